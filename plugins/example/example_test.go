package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/twofoldauth/twofold/factors/factortest"
)

type solver struct{}

func (solver) Enroll(json.RawMessage) (json.RawMessage, error) {
	return json.RawMessage(`{"passphrase": "correct horse battery"}`), nil
}

func (solver) Verify(_, _ json.RawMessage) (json.RawMessage, error) {
	return json.RawMessage(`{"passphrase": "correct horse battery"}`), nil
}

func TestConformance(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "example")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	factortest.Run(t, bin, factortest.WithSolver(solver{}), factortest.WithReusableAnswers())
}
