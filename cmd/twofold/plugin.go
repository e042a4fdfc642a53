package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twofoldauth/twofold/factors/factortest"
	"github.com/twofoldauth/twofold/factors/host"
)

// pluginCommand runs `twofold plugin test` and `twofold plugin checksum`.
// Neither needs the server's configuration.
func pluginCommand(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "checksum":
		if len(args) < 2 {
			return errUsage
		}
		for _, path := range args[1:] {
			line, err := pinLine(path)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, line)
		}
		return nil
	case "test":
		return pluginTest(ctx, args[1:], out)
	}
	return errUsage
}

// pinLine is a binary's entry in TWOFOLD_PLUGIN_CHECKSUMS: its file name
// (the name the host pins it by) and its SHA-256.
func pinLine(path string) (string, error) {
	sum, err := host.FileSHA256(path)
	if err != nil {
		return "", err
	}
	return filepath.Base(path) + "=" + hex.EncodeToString(sum), nil
}

type settingsFlag map[string]string

func (s settingsFlag) String() string { return fmt.Sprint(map[string]string(s)) }
func (s settingsFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want name=value, got %q", v)
	}
	s[k] = val
	return nil
}

// staticSolver answers every enrolment and verification with the same
// JSON: enough for factors whose answer the user knows (a passphrase).
type staticSolver json.RawMessage

func (s staticSolver) Enroll(json.RawMessage) (json.RawMessage, error) {
	return json.RawMessage(s), nil
}
func (s staticSolver) Verify(_, _ json.RawMessage) (json.RawMessage, error) {
	return json.RawMessage(s), nil
}

// pluginTest runs the conformance kit and prints one line per check.
func pluginTest(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("plugin test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	settings := settingsFlag{}
	fs.Var(settings, "settings", "a setting for Configure, name=value (repeat)")
	answer := fs.String("answer", "", "JSON the user's device answers every enrolment and verification with (runs the successful paths)")
	reusable := fs.Bool("reusable", false, "the same answer may verify again (a knowledge factor)")
	timeout := fs.Duration("timeout", 2*time.Second, "the budget of every call")
	// The path may come before or after the flags.
	var path string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		path, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("plugin test: %w", err)
	}
	if path == "" && fs.NArg() == 1 {
		path = fs.Arg(0)
	} else if fs.NArg() > 0 || path == "" {
		return errUsage
	}
	if info, err := os.Stat(path); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("plugin test: %s is not an executable file", path)
	}
	opts := []factortest.Option{factortest.WithTimeout(*timeout)}
	if len(settings) > 0 {
		opts = append(opts, factortest.WithSettings(settings))
	}
	if *answer != "" {
		if !json.Valid([]byte(*answer)) {
			return errors.New("plugin test: --answer is not JSON")
		}
		opts = append(opts, factortest.WithSolver(staticSolver(*answer)))
	}
	if *reusable {
		opts = append(opts, factortest.WithReusableAnswers())
	}
	fmt.Fprintf(out, "conformance of %s\n", path)
	res := factortest.Conform(ctx, path, func(check string, err error) {
		if err == nil {
			fmt.Fprintf(out, "  PASS  %s\n", check)
			return
		}
		fmt.Fprintf(out, "  FAIL  %s\n", check)
		for line := range strings.Lines(err.Error()) {
			fmt.Fprintf(out, "        %s", strings.TrimRight(line, "\n")+"\n")
		}
	}, opts...)
	if *answer == "" {
		fmt.Fprintln(out, "  (no --answer: enrolment and verification were not run to success)")
	}
	fmt.Fprintf(out, "%d passed, %d failed\n", res.Passed, res.Failed)
	if res.Failed > 0 {
		fmt.Fprintf(out, "\nhost and plugin log:\n%s", res.Log)
		return fmt.Errorf("plugin test: %d of %d checks failed", res.Failed, res.Passed+res.Failed)
	}
	return nil
}
