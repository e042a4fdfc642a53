package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t, "sqlite://"+t.TempDir()+"/db")
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/playground": 404, "/demo": 200} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	// Outside dev mode the Playground is for admins: an admin's browser
	// session opens it.
	browser := e.client()
	browser.login("demo", "admin", adminPassword)
	resp, err := browser.http.Get(e.srv.URL + "/playground")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("playground for an admin: %d", resp.StatusCode)
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
