package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models/modelstest"
	"github.com/twofoldauth/twofold/notify/smtptest"
	"github.com/twofoldauth/twofold/server"
)

const (
	adminPassword = "correct-horse-battery-staple"
	appOrigin     = "http://app.test"
)

// clock is a movable clock shared by every server of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is one test's deployment: a database and one or more servers on it.
type env struct {
	t     *testing.T
	cfg   server.Config
	clock *clock
	srv   *httptest.Server
	// sink receives the mail of every server of the env (see e.mail()).
	sink *smtptest.Sink
}

// eachDB runs fn on SQLite and on MariaDB.
func eachDB(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, d := range modelstest.Dialects(t) {
		t.Run(d, func(t *testing.T) { fn(t, newEnv(t, modelstest.NewURL(t, d))) })
	}
}

func testConfig(dbURL string) server.Config {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return server.Config{
		DatabaseURL:       dbURL,
		SealKey:           key,
		BootstrapOrg:      "demo",
		BootstrapAdmin:    "admin",
		BootstrapPassword: adminPassword,
		AllowedOrigins:    []string{appOrigin},
		PluginDir:         pluginDir,
		// Skew 2 lets a test use a TOTP secret for five consecutive steps
		// (the plugin runs on real time; see totpApp).
		PluginSettings: map[string]map[string]string{
			"totp":        {"skew": "2"},
			"passkey":     {"rp_id": "localhost", "origins": webauthnOrigin},
			"hardwarekey": {"rp_id": "localhost", "origins": webauthnOrigin, "allowed_aaguids": listedKey.String(), "attestation_roots": testVendor.PEM()},
		},
		MFA: mfa.Config{
			// Cheap hashing keeps tests fast; the cost is a parameter.
			Password: mfa.PasswordConfig{MemoryKiB: 64, Iterations: 1, Parallelism: 1, MinLength: 12, MaxLength: 256},
			// Every test client is 127.0.0.1; TestAuthRateLimit sets a real one.
			AuthRatePerMinute: -1,
		},
	}
}

func newEnv(t *testing.T, dbURL string) *env {
	e := &env{t: t, cfg: testConfig(dbURL), clock: &clock{now: time.Now().UTC().Truncate(time.Millisecond)}}
	e.sink = mailSink(t, &e.cfg)
	e.srv = e.startServer()
	return e
}

// startServer starts another server instance on the env's database.
func (e *env) startServer() *httptest.Server {
	e.t.Helper()
	s, err := server.New(context.Background(), e.cfg, server.WithMFAOptions(mfa.WithClock(e.clock)))
	if err != nil {
		e.t.Fatalf("server.New: %v", err)
	}
	hs := httptest.NewServer(s.Handler())
	e.t.Cleanup(func() { hs.Close(); s.Close() })
	return hs
}

// client talks GraphQL to a server, with a cookie jar like a browser and an
// optional bearer token like an API client.
type client struct {
	t      *testing.T
	url    string
	http   *http.Client
	token  string
	origin string
}

func (e *env) client() *client { return e.clientOf(e.srv) }

func (e *env) clientOf(hs *httptest.Server) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: e.t, url: hs.URL, http: &http.Client{Jar: jar}, origin: appOrigin}
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
	Path       []any          `json:"path"`
}

type response struct {
	Status int
	Data   map[string]any
	Errors []gqlError
}

// code is the first error's extensions.code, or "".
func (r response) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// post sends one GraphQL request. Browser clients (no token) send Origin
// and JSON, as fetch() does.
func (c *client) post(query string, vars map[string]any) response {
	c.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, c.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.send(req)
}

func (c *client) send(req *http.Request) response {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("POST /graphql: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Data   map[string]any `json:"data"`
		Errors []gqlError     `json:"errors"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("response is not JSON (%d): %s", resp.StatusCode, raw)
	}
	for _, e := range out.Errors {
		if strings.Contains(strings.ToLower(e.Message), "sql") || strings.Contains(e.Message, "goroutine") {
			c.t.Fatalf("error leaks internals: %q", e.Message)
		}
	}
	return response{Status: resp.StatusCode, Data: out.Data, Errors: out.Errors}
}

// must posts and fails the test on any error.
func (c *client) must(query string, vars map[string]any) map[string]any {
	c.t.Helper()
	r := c.post(query, vars)
	if len(r.Errors) > 0 {
		c.t.Fatalf("unexpected errors: %+v\nquery: %s", r.Errors, query)
	}
	return r.Data
}

const loginMutation = `mutation($o: String!, $u: String!, $p: String!, $tb: String) {
  login(input: {organization: $o, username: $u, password: $p, trustedBrowserToken: $tb}) {
    status token ticket user { id username }
  }
}`

// login logs in and returns the login payload and the response.
func (c *client) login(org, user, password string) (map[string]any, response) {
	c.t.Helper()
	r := c.post(loginMutation, map[string]any{"o": org, "u": user, "p": password})
	if len(r.Errors) > 0 {
		return nil, r
	}
	return r.Data["login"].(map[string]any), r
}

// loginAs logs in with a bearer token (an API client), failing on anything
// but AUTHENTICATED.
func (e *env) loginAs(user, password string) *client {
	e.t.Helper()
	c := e.client()
	c.origin, c.http = "", &http.Client{} // an API client: no cookies, no Origin
	p, r := c.login("demo", user, password)
	if p == nil || p["status"] != "AUTHENTICATED" {
		e.t.Fatalf("login %s: %+v %+v", user, p, r.Errors)
	}
	c.token = p["token"].(string)
	return c
}

func (e *env) admin() *client { return e.loginAs("admin", adminPassword) }

// createUser creates a user with the admin and returns its id.
func (e *env) createUser(admin *client, input map[string]any) string {
	e.t.Helper()
	d := admin.must(`mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } } }`, map[string]any{"in": input})
	return dig(d, "createUser", "user", "id").(string)
}

// dig walks nested maps.
func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// httpServer serves an already built server.
func httpServer(t *testing.T, s *server.Server) *httptest.Server {
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return hs
}

// setPolicy sets a policy through the API.
func (e *env) setPolicy(admin *client, input map[string]any) map[string]any {
	e.t.Helper()
	return admin.must(`mutation($in: SetPolicyInput!) { setPolicy(input: $in) { policy { id } } }`, map[string]any{"in": input})
}
