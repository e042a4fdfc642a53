package e2e

import (
	"net/http"
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
