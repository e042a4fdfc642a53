package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t, "sqlite://"+t.TempDir()+"/db")
	// The Playground is served to everyone, in and outside dev mode (the
	// API authorizes; see TestPlaygroundPage).
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/playground": 200, "/demo": 200} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, "sqlite://"+t.TempDir()+"/db")
	admin := e.admin()
	admin.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp"}})
	resp, err := http.Get(e.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`twofold_factor_up{factor="totp",version="1.0.0"} 1`,
		`twofold_factor_call_duration_seconds_count{factor="totp",method="BeginEnrollment",outcome="ok"} 1`,
		`twofold_http_requests_total{code="200",handler="graphql"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
