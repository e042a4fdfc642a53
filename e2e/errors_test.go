package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models/modelstest"
	"github.com/twofoldauth/twofold/server"
)

// TestDatabaseDownIsUnavailable: with the database gone, anonymous calls
// (login) and authenticated ones answer UNAVAILABLE, never INTERNAL.
func TestDatabaseDownIsUnavailable(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		s, err := server.New(context.Background(), e.cfg, server.WithMFAOptions(mfa.WithClock(e.clock)))
		if err != nil {
			t.Fatal(err)
		}
		hs := httpServer(t, s)
		admin := e.clientOf(hs)
		admin.origin, admin.http = "", &http.Client{}
		p, _ := admin.login("demo", "admin", adminPassword)
		if p == nil || p["status"] != "AUTHENTICATED" {
			t.Fatalf("login before the outage: %v", p)
		}
		admin.token = p["token"].(string)
		s.Close() // closes the database pool (and the plugins)

		calls := map[string]func() response{
			"login": func() response {
				_, r := e.clientOf(hs).login("demo", "admin", adminPassword)
				return r
			},
			"wrong password": func() response {
				_, r := e.clientOf(hs).login("demo", "admin", "not-the-password")
				return r
			},
			"passkey sign-in": func() response {
				return e.clientOf(hs).post(`mutation { beginPasskeyLogin(input: {organization: "demo"}) { ticket } }`, nil)
			},
			"authenticated query": func() response { return admin.post(`{ viewer { username } }`, nil) },
		}
		for name, call := range calls {
			r := call()
			if r.code() != "UNAVAILABLE" {
				t.Errorf("%s with the database down: %d %+v, want UNAVAILABLE", name, r.Status, r.Errors)
			}
		}
	})
}

// TestMalformedInputIsBadUserInput: a date in the wrong form is the
// caller's mistake, named by its field, and changes nothing.
func TestMalformedInputIsBadUserInput(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		cases := map[string]struct {
			query string
			vars  map[string]any
			field string
		}{
			"enforceFrom literal": {`mutation { setPolicy(input: {scope: {}, mode: REQUIRED, enforceFrom: "2027-03-01"}) { policy { id } } }`, nil, "enforceFrom"},
			"enforceFrom variable": {`mutation($in: SetPolicyInput!) { setPolicy(input: $in) { policy { id } } }`,
				map[string]any{"in": map[string]any{"scope": map[string]any{}, "mode": "REQUIRED", "enforceFrom": "1 March 2027"}}, "enforceFrom"},
			"audit filter literal":  {`{ auditEvents(filter: {from: "yesterday"}) { totalCount } }`, nil, "filter.from"},
			"audit filter variable": {`query($to: Time) { auditEvents(filter: {to: $to}) { totalCount } }`, map[string]any{"to": "2027-13-45T00:00:00Z"}, "filter.to"},
		}
		for name, tc := range cases {
			r := admin.post(tc.query, tc.vars)
			if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != tc.field {
				t.Errorf("%s: %+v, want BAD_USER_INPUT on field %s", name, r.Errors, tc.field)
				continue
			}
			msg := r.Errors[0].Message
			if !strings.Contains(msg, tc.field) || !strings.Contains(msg, "RFC 3339") || strings.Contains(msg, "RFC3339Nano") {
				t.Errorf("%s: message %q should name the field and the expected form, in our words", name, msg)
			}
		}
		if n := len(nodes(admin.must(`{ policies { edges { node { id } } } }`, nil), "policies")); n != 0 {
			t.Fatalf("a refused setPolicy stored %d policies", n)
		}
		// A well-formed date goes through.
		admin.must(`mutation { setPolicy(input: {scope: {}, mode: REQUIRED, enforceFrom: "2027-03-01T00:00:00Z"}) { policy { id } } }`, nil)
	})
}

// TestInvalidJSONIsNotEchoed: a body that is not a GraphQL request gets
// BAD_USER_INPUT without its content quoted back.
func TestInvalidJSONIsNotEchoed(t *testing.T) {
	e := newEnv(t, modelstest.NewURL(t, "sqlite"))
	for name, body := range map[string]string{
		"not JSON":        `{"query": "{ viewer { id } }", "password": "SECRET-MARKER"`,
		"wrong JSON type": `{"query": 42, "variables": {"password": "SECRET-MARKER"}}`,
	} {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), `"BAD_USER_INPUT"`) {
			t.Errorf("%s: %d %s, want 400 BAD_USER_INPUT", name, resp.StatusCode, raw)
		}
		if strings.Contains(string(raw), "SECRET-MARKER") || strings.Contains(string(raw), "json:") {
			t.Errorf("%s: the answer quotes the body or the decoder: %s", name, raw)
		}
	}
	// An API client that does not send JSON is told so, with a code.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/graphql", strings.NewReader(`query { viewer { id } }`))
	req.Header.Set("Content-Type", "application/graphql")
	if r := e.client().send(req); r.Status != http.StatusUnsupportedMediaType || r.code() != "BAD_USER_INPUT" {
		t.Errorf("a non-JSON content type: %d %+v, want 415 BAD_USER_INPUT", r.Status, r.Errors)
	}
}

// TestReplayedCodeSaysAlreadyUsed: a TOTP code that was accepted once is
// refused afterwards with its own reason; a wrong code keeps INVALID_CODE.
func TestReplayedCodeSaysAlreadyUsed(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		alice, _ := newUser(t, e, e.admin(), "alice", nil)
		app, enrollmentID, _ := enrolTOTP(t, alice, nil)
		code := app.next()
		p := loginStep(t, e.client(), "alice", "alice-password-1")
		if r := verify(e.client(), p["ticket"].(string), enrollmentID, map[string]any{"code": code}, false); len(r.Errors) > 0 {
			t.Fatalf("first use: %+v", r.Errors)
		}
		p = loginStep(t, e.client(), "alice", "alice-password-1")
		r := verify(e.client(), p["ticket"].(string), enrollmentID, map[string]any{"code": code}, false)
		if r.code() != "UNAUTHENTICATED" || r.Errors[0].Extensions["reason"] != "CODE_ALREADY_USED" ||
			!strings.Contains(r.Errors[0].Message, "wait for the next code") {
			t.Fatalf("replayed code: %+v", r.Errors)
		}
		wrong := "000000"
		if app.peek() == wrong {
			wrong = "111111"
		}
		if r := verify(e.client(), p["ticket"].(string), enrollmentID, map[string]any{"code": wrong}, false); r.Errors[0].Extensions["reason"] != "INVALID_CODE" {
			t.Fatalf("wrong code: %+v", r.Errors)
		}
		if r := verify(e.client(), p["ticket"].(string), enrollmentID, map[string]any{"code": app.next()}, false); len(r.Errors) > 0 {
			t.Fatalf("the next code: %+v", r.Errors)
		}
	})
}

// TestOversizeBodyAnswers413: a body over the limit gets an answer, with
// or without a Content-Length, not a reset connection.
func TestOversizeBodyAnswers413(t *testing.T) {
	e := newEnv(t, modelstest.NewURL(t, "sqlite"))
	body := func(pad int) []byte {
		return []byte(`{"query": "{ __typename }", "variables": {"pad": "` + strings.Repeat("x", pad) + `"}}`)
	}
	post := func(r io.Reader) (int, response) {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/graphql", r)
		req.Header.Set("Content-Type", "application/json")
		c := e.client()
		res := c.send(req)
		return res.Status, res
	}
	for name, r := range map[string]io.Reader{
		"content length": bytes.NewReader(body(3 << 20)),
		"chunked":        io.MultiReader(bytes.NewReader(body(3 << 20))), // no length known: sent chunked
	} {
		status, res := post(r)
		if status != http.StatusRequestEntityTooLarge || res.code() != "BAD_USER_INPUT" || !strings.Contains(res.Errors[0].Message, "too large") {
			t.Errorf("%s: %d %+v, want 413 BAD_USER_INPUT saying too large", name, status, res.Errors)
		}
	}
	if status, res := post(bytes.NewReader(body(1<<20 - 200))); status != http.StatusOK || len(res.Errors) > 0 {
		t.Fatalf("a body under the limit: %d %+v", status, res.Errors)
	}
}
