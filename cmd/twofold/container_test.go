package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"
)

// TestHealthcheck: `twofold healthcheck` passes only when /healthz answers
// 200, asks the loopback for a wildcard listen address (the image listens
// on 0.0.0.0), and needs no other configuration.
func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	env := func(addr string) func(string) string {
		return func(k string) string {
			if k == "TWOFOLD_HTTP_ADDR" {
				return addr
			}
			return ""
		}
	}
	for _, addr := range []string{"127.0.0.1:" + port, "0.0.0.0:" + port, ":" + port, "[::]:" + port} {
		if err := run([]string{"healthcheck"}, nil, env(addr), nil); err != nil {
			t.Errorf("TWOFOLD_HTTP_ADDR=%s: %v", addr, err)
		}
	}
	if err := run([]string{"healthcheck", "--url", srv.URL + "/healthz"}, nil, env(""), nil); err != nil {
		t.Errorf("--url: %v", err)
	}
	status = http.StatusServiceUnavailable
	if err := run([]string{"healthcheck"}, nil, env("127.0.0.1:"+port), nil); err == nil {
		t.Errorf("a 503 passed the health check")
	}
	if err := run([]string{"healthcheck", "--url", srv.URL + "/nothing"}, nil, env(""), nil); err == nil {
		t.Errorf("a 404 passed the health check")
	}
	srv.Close()
	if err := run([]string{"healthcheck"}, nil, env("127.0.0.1:"+port), nil); err == nil {
		t.Errorf("no server passed the health check")
	}
	if err := run([]string{"healthcheck", "extra"}, nil, env(""), nil); !errors.Is(err, errUsage) {
		t.Errorf("extra argument: %v, want the usage", err)
	}
}

// TestDockerBuildStage runs scripts/docker-build-check.sh: the Dockerfile's
// build stage commands, run here, make static binaries and a manifest that
// pins them, laid out as the runtime stage copies them, and the server so
// laid out and configured by the image's ENV answers its HEALTHCHECK.
func TestDockerBuildStage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary (-short)")
	}
	out, err := exec.Command("bash", "../../scripts/docker-build-check.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("docker-build-check: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
