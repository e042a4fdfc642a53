package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// pluginDir holds the factor plugins built for this test run: the real
// binaries, started through go-plugin by every test server.
var pluginDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "twofold-e2e-plugins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginDir = dir
	code := func() int {
		defer os.RemoveAll(dir)
		for _, name := range servedPlugins() {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "../plugins/"+name)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "build plugin %s: %v\n", name, err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// servedPlugins are the plugins a real deployment installs.
func servedPlugins() []string {
	var out []string
	for _, name := range []string{"totp", "passkey", "hardwarekey", "emailotp"} {
		if _, err := os.Stat(filepath.Join("..", "plugins", name, "main.go")); err == nil {
			out = append(out, name)
		}
	}
	return out
}
