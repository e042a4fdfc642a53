package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/twofoldauth/twofold/factors/factortest"
	"github.com/twofoldauth/twofold/plugins/webauthntest"
)

// bin is this plugin, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hardwarekey-plugin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "hardwarekey")
	code := 1
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestConformance(t *testing.T) {
	const origin = "https://login.example.com"
	vendor, err := webauthntest.NewIssuer()
	if err != nil {
		t.Fatal(err)
	}
	a := webauthntest.NewAuthenticator(webauthntest.Options{Attestation: webauthntest.AttestationBasic, Issuer: vendor, UserNotVerified: true})
	factortest.Run(t, bin,
		factortest.WithSolver(webauthntest.Solver{Authenticator: a, Origin: origin}),
		factortest.WithSettings(map[string]string{"rp_id": "example.com", "origins": origin, "allowed_aaguids": a.AAGUID().String(),
			"attestation_roots": vendor.PEM()}))
}
