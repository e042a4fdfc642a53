package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func buildExample(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "example")
	if out, err := exec.Command("go", "build", "-o", bin, "../../plugins/example").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func TestPluginTestReportsEachCheck(t *testing.T) {
	bin := buildExample(t)
	var out bytes.Buffer
	err := run([]string{"plugin", "test", bin, "--answer", `{"passphrase": "correct horse battery"}`, "--reusable"}, &out, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"PASS  describe", "PASS  enrol", "PASS  verify and round-trip state", "10 passed, 0 failed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}

	// Without --reusable the kit demands single-use answers, which a
	// passphrase is not: a failure, reported by check, exit status 1.
	out.Reset()
	err = pluginCommand(context.Background(), []string{"test", bin, "--answer", `{"passphrase": "correct horse battery"}`}, &out)
	if err == nil || !strings.Contains(err.Error(), "1 of 10 checks failed") {
		t.Fatalf("got %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "FAIL  verify and round-trip state\n        verification 1 replayed") {
		t.Errorf("report:\n%s", out.String())
	}

	// A setting the plugin does not declare is named.
	out.Reset()
	err = pluginCommand(context.Background(), []string{"test", "--settings", "colour=blue", bin}, &out)
	if err == nil || !strings.Contains(out.String(), `setting "colour" is configured but factor example does not declare it`) {
		t.Fatalf("got %v\n%s", err, out.String())
	}
}

func TestPluginChecksumPrintsThePin(t *testing.T) {
	bin := buildExample(t)
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	var out bytes.Buffer
	if err := pluginCommand(context.Background(), []string{"checksum", bin}, &out); err != nil {
		t.Fatal(err)
	}
	if want := "example=" + hex.EncodeToString(sum[:]) + "\n"; out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
	if err := pluginCommand(context.Background(), []string{"checksum"}, &out); err != errUsage {
		t.Fatalf("no path: %v", err)
	}
}
