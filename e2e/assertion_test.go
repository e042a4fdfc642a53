package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/plugins/webauthntest"
	"github.com/twofoldauth/twofold/server"
)

const (
	introspectClient = "crm-backend"
	introspectSecret = "s3cret-of-the-crm-backend"
	testIssuer       = "https://mfa.example.test"
	assertionQuery   = `{ sessionAssertion { token expiresAt amr acr } }`
)

// assertionServer starts a server on e's database configured for
// assertions: a public URL, one introspection client, a 5-minute token
// lifetime and keys rotated every hour.
func (e *env) assertionServer() *httptest.Server {
	e.t.Helper()
	sum := sha256.Sum256([]byte(introspectSecret))
	clients, err := server.ParseIntrospectionClients(introspectClient + ":" + hex.EncodeToString(sum[:]))
	if err != nil {
		e.t.Fatal(err)
	}
	e.cfg.PublicURL, e.cfg.IntrospectionClients = testIssuer, clients
	e.cfg.MFA.Assertion = mfa.AssertionConfig{Issuer: testIssuer, TTL: 5 * time.Minute, KeyRotation: time.Hour}
	return e.startServer()
}

// apiClientOf is an API client (bearer token, no cookies) of hs.
func (e *env) apiClientOf(hs *httptest.Server) *client {
	c := e.clientOf(hs)
	c.origin, c.http = "", &http.Client{}
	return c
}

// loginOn logs in on hs with a password alone.
func (e *env) loginOn(hs *httptest.Server, user, password string) *client {
	e.t.Helper()
	c := e.apiClientOf(hs)
	p, r := c.login("demo", user, password)
	if p == nil || p["status"] != "AUTHENTICATED" {
		e.t.Fatalf("login %s: %+v %+v", user, p, r.Errors)
	}
	c.token = p["token"].(string)
	return c
}

// assertion asks for the client's session assertion.
func assertion(t *testing.T, c *client) (token string, amr []string, acr string) {
	t.Helper()
	d := c.must(assertionQuery, nil)
	for _, v := range dig(d, "sessionAssertion", "amr").([]any) {
		amr = append(amr, v.(string))
	}
	return dig(d, "sessionAssertion", "token").(string), amr, dig(d, "sessionAssertion", "acr").(string)
}

// fetchJWKS reads a server's published key set.
func fetchJWKS(t *testing.T, hs *httptest.Server) jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(hs.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("jwks: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if k.Algorithm != "EdDSA" || k.Use != "sig" || k.KeyID == "" || !k.IsPublic() {
			t.Fatalf("published key %+v: want a public EdDSA signing key with a kid", k)
		}
	}
	return set
}

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// claims is what a backend reads from an assertion.
type claims struct {
	jwt.Claims
	Org      string   `json:"org"`
	OrgSlug  string   `json:"org_slug"`
	Username string   `json:"preferred_username"`
	SID      string   `json:"sid"`
	AuthTime int64    `json:"auth_time"`
	AMR      []string `json:"amr"`
	ACR      string   `json:"acr"`
}

// verifyAssertion verifies token as a backend does with go-jose: EdDSA
// only, the key named by kid in the set, issuer and expiry at the
// service's (test) time.
func verifyAssertion(token string, set jose.JSONWebKeySet, at time.Time) (*claims, string, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, "", err
	}
	kid := tok.Headers[0].KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		return nil, kid, errors.New("unknown kid " + kid)
	}
	var c claims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		return nil, kid, err
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: testIssuer, Time: at}, 0); err != nil {
		return nil, kid, err
	}
	return &c, kid, nil
}

// introspect posts a token to hs's introspection endpoint with the given
// client credentials.
func introspect(t *testing.T, hs *httptest.Server, id, secret, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("introspect: %d %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func introspected(t *testing.T, hs *httptest.Server, token string) map[string]any {
	t.Helper()
	status, out := introspect(t, hs, introspectClient, introspectSecret, token)
	if status != http.StatusOK {
		t.Fatalf("introspect: %d %v", status, out)
	}
	return out
}

func assertInactive(t *testing.T, what string, out map[string]any) {
	t.Helper()
	if len(out) != 1 || out["active"] != false {
		t.Fatalf("%s: introspection %v, want only {active: false}", what, out)
	}
}

func TestSessionAssertionsVerifyWithPublishedKeys(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		hs := e.assertionServer()
		admin := e.loginOn(hs, "admin", adminPassword)
		me := admin.must(`{ viewer { id organization { id slug } } }`, nil)

		// Anonymous callers get no assertion.
		if r := e.apiClientOf(hs).post(assertionQuery, nil); r.code() != "UNAUTHENTICATED" {
			t.Fatalf("anonymous sessionAssertion: %+v", r.Errors)
		}

		// Password alone.
		token, amr, acr := assertion(t, admin)
		if !slices.Equal(amr, []string{"pwd"}) || acr != mfa.ACRPassword {
			t.Fatalf("password login: amr %v acr %q", amr, acr)
		}
		set := fetchJWKS(t, hs)
		if len(set.Keys) != 1 {
			t.Fatalf("jwks: %d keys, want 1", len(set.Keys))
		}
		c, _, err := verifyAssertion(token, set, e.clock.Now())
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		now := e.clock.Now().Unix()
		if c.Issuer != testIssuer || c.Subject != dig(me, "viewer", "id") || c.Org != dig(me, "viewer", "organization", "id") ||
			c.OrgSlug != "demo" || c.Username != "admin" || c.SID == "" || c.ID == "" ||
			c.IssuedAt.Time().Unix() != now || c.Expiry.Time().Unix() != now+300 || c.AuthTime > now || c.AuthTime < now-5 ||
			!slices.Equal(c.AMR, []string{"pwd"}) || c.ACR != mfa.ACRPassword {
			t.Fatalf("claims: %+v", c)
		}
		// Each assertion is new (jti), of the same session (sid).
		token2, _, _ := assertion(t, admin)
		c2, _, err := verifyAssertion(token2, set, e.clock.Now())
		if err != nil || c2.ID == c.ID || c2.SID != c.SID {
			t.Fatalf("second assertion: %+v %v", c2, err)
		}

		// Password and TOTP: otp and mfa.
		_, bobID := newUser(t, e, admin, "bob", nil)
		bob := e.loginOn(hs, "bob", "bob-password-1")
		// Enrolling does not change how this session was established.
		app, enrollmentID, codes := enrolTOTP(t, bob, nil)
		bob = e.apiClientOf(hs)
		p := loginStep(t, bob, "bob", "bob-password-1")
		if p["status"] != "MFA_REQUIRED" {
			t.Fatalf("bob: %v", p)
		}
		r := verify(bob, p["ticket"].(string), enrollmentID, map[string]any{"code": app.next()}, true)
		if len(r.Errors) > 0 {
			t.Fatalf("verify: %+v", r.Errors)
		}
		bob.token = dig(r.Data, "verifyFactor", "token").(string)
		trusted := dig(r.Data, "verifyFactor", "trustedBrowserToken").(string)
		token, amr, acr = assertion(t, bob)
		if want := []string{"pwd", "otp", "mfa"}; !slices.Equal(amr, want) || acr != mfa.ACRMultiFactor {
			t.Fatalf("password+TOTP login: amr %v acr %q, want %v %q", amr, acr, want, mfa.ACRMultiFactor)
		}
		c, _, err = verifyAssertion(token, fetchJWKS(t, hs), e.clock.Now())
		if err != nil || c.Subject != bobID || !slices.Equal(c.AMR, amr) || c.ACR != acr || c.Username != "bob" {
			t.Fatalf("bob's assertion: %+v %v", c, err)
		}

		// A recovery code is a one-time code too.
		rc := e.apiClientOf(hs)
		p = loginStep(t, rc, "bob", "bob-password-1")
		r = verify(rc, p["ticket"].(string), "", map[string]any{"recoveryCode": codes[0]}, false)
		if len(r.Errors) > 0 {
			t.Fatalf("recovery code: %+v", r.Errors)
		}
		rc.token = dig(r.Data, "verifyFactor", "token").(string)
		if _, amr, acr = assertion(t, rc); !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) || acr != mfa.ACRMultiFactor {
			t.Fatalf("recovery code login: amr %v acr %q", amr, acr)
		}

		// A trusted browser skips the second factor: the password alone,
		// said so by acr.
		tb := e.apiClientOf(hs)
		lr := tb.post(loginMutation, map[string]any{"o": "demo", "u": "bob", "p": "bob-password-1", "tb": trusted})
		if dig(lr.Data, "login", "status") != "AUTHENTICATED" {
			t.Fatalf("trusted browser login: %+v %+v", lr.Data, lr.Errors)
		}
		tb.token = dig(lr.Data, "login", "token").(string)
		if _, amr, acr = assertion(t, tb); !slices.Equal(amr, []string{"pwd"}) || acr != mfa.ACRTrustedBrowser {
			t.Fatalf("trusted browser login: amr %v acr %q", amr, acr)
		}

		// A tampered payload fails verification, with go-jose and at
		// introspection; so does a token signed by another key under the
		// same kid.
		parts := strings.Split(token, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		forged := strings.Replace(string(payload), bobID, dig(me, "viewer", "id").(string), 1)
		tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
		if _, _, err := verifyAssertion(tampered, set, e.clock.Now()); err == nil {
			t.Fatal("a tampered assertion verified")
		}
		assertInactive(t, "tampered assertion", introspected(t, hs, tampered))
		_, otherKey, _ := ed25519.GenerateKey(nil)
		signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: otherKey},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", set.Keys[0].KeyID))
		var raw map[string]any
		_ = json.Unmarshal(payload, &raw)
		foreign, _ := jwt.Signed(signer).Claims(raw).Serialize()
		if _, _, err := verifyAssertion(foreign, set, e.clock.Now()); err == nil {
			t.Fatal("an assertion signed by another key verified")
		}
		assertInactive(t, "foreign assertion", introspected(t, hs, foreign))
		if out := introspected(t, hs, token); out["active"] != true {
			t.Fatalf("the untampered assertion: %v", out)
		}
	})
}

func TestSessionAssertionExpiresWithServiceClock(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		hs := e.assertionServer()
		admin := e.loginOn(hs, "admin", adminPassword)
		e.clock.Advance(40 * time.Minute) // within the session's idle time
		token, _, _ := assertion(t, admin)
		at := e.clock.Now()
		c, _, err := verifyAssertion(token, fetchJWKS(t, hs), at)
		if err != nil || c.IssuedAt.Time().Unix() != at.Unix() || c.Expiry.Time().Unix() != at.Add(5*time.Minute).Unix() {
			t.Fatalf("claims %+v (%v): iat and exp must follow the service clock %v", c, err, at)
		}
		e.clock.Advance(5*time.Minute - time.Second)
		if out := introspected(t, hs, token); out["active"] != true {
			t.Fatalf("1s before expiry: %v", out)
		}
		e.clock.Advance(time.Second)
		set := fetchJWKS(t, hs)
		if _, _, err := verifyAssertion(token, set, e.clock.Now()); !errors.Is(err, jwt.ErrExpired) {
			t.Fatalf("at exp: %v, want expired", err)
		}
		assertInactive(t, "expired assertion", introspected(t, hs, token))
		// The session outlives its assertions: a new one is valid again.
		if token2, _, _ := assertion(t, admin); introspected(t, hs, token2)["active"] != true {
			t.Fatal("a fresh assertion is not active")
		}
	})
}

func TestAssertionKeyRotation(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		hs := e.assertionServer()
		t0 := e.clock.Now()
		admin := e.loginOn(hs, "admin", adminPassword)
		stayActive := func() { admin.must(`{ viewer { id } }`, nil) }
		first, _, _ := assertion(t, admin)
		_, kidA, err := verifyAssertion(first, fetchJWKS(t, hs), e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}

		// Half-way through the rotation period the next key is published,
		// but the current one still signs.
		e.clock.Advance(56 * time.Minute)
		stayActive()
		old, _, _ := assertion(t, admin)
		set := fetchJWKS(t, hs)
		if _, kid, err := verifyAssertion(old, set, e.clock.Now()); err != nil || kid != kidA || len(set.Keys) != 2 {
			t.Fatalf("before the rotation: kid %s (want %s), %v, keys %v", kid, kidA, err, kids(set))
		}
		kidB := set.Keys[1].KeyID

		// Past the rotation period the new key signs; the old one is still
		// published, and its tokens verify until they expire.
		e.clock.Advance(t0.Add(time.Hour).Sub(e.clock.Now()))
		stayActive()
		fresh, _, _ := assertion(t, admin)
		set = fetchJWKS(t, hs)
		if _, kid, err := verifyAssertion(fresh, set, e.clock.Now()); err != nil || kid != kidB {
			t.Fatalf("after the rotation: kid %s (want %s), %v", kid, kidB, err)
		}
		if !slices.Contains(kids(set), kidA) {
			t.Fatalf("the old key is no longer published: %v", kids(set))
		}
		if _, _, err := verifyAssertion(old, set, e.clock.Now()); err != nil {
			t.Fatalf("an unexpired token of the old key: %v", err)
		}
		if out := introspected(t, hs, old); out["active"] != true {
			t.Fatalf("introspecting an unexpired token of the old key: %v", out)
		}

		// Once every token the old key signed has expired, it is dropped.
		e.clock.Advance(5*time.Minute + time.Second)
		stayActive()
		set = fetchJWKS(t, hs)
		if slices.Contains(kids(set), kidA) || !slices.Contains(kids(set), kidB) {
			t.Fatalf("keys after the old key's tokens expired: %v (old %s, current %s)", kids(set), kidA, kidB)
		}
		assertInactive(t, "old key's token", introspected(t, hs, old))
		if latest, _, _ := assertion(t, admin); introspected(t, hs, latest)["active"] != true {
			t.Fatal("a token of the current key is not active")
		}
	})
}

func TestIntrospection(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		hs := e.assertionServer()
		admin := e.loginOn(hs, "admin", adminPassword)
		token, _, _ := assertion(t, admin)

		for name, creds := range map[string][2]string{
			"wrong secret":   {introspectClient, introspectSecret + "x"},
			"unknown client": {"other-backend", introspectSecret},
			"no credentials": {"", ""},
			"empty secret":   {introspectClient, ""},
		} {
			status, out := introspect(t, hs, creds[0], creds[1], admin.token)
			if status != http.StatusUnauthorized || out["error"] != "invalid_client" || out["active"] != nil {
				t.Fatalf("%s: %d %v", name, status, out)
			}
		}

		me := admin.must(`{ viewer { id organization { id } } }`, nil)
		for name, tok := range map[string]string{"session token": admin.token, "assertion": token} {
			out := introspected(t, hs, tok)
			if out["active"] != true || out["sub"] != dig(me, "viewer", "id") || out["org"] != dig(me, "viewer", "organization", "id") ||
				out["org_slug"] != "demo" || out["sid"] == "" || out["iss"] != testIssuer || out["acr"] != mfa.ACRPassword ||
				jsonOf(out["amr"]) != `["pwd"]` || out["exp"] == nil || out["iat"] == nil || out["auth_time"] == nil {
				t.Fatalf("%s: %v", name, out)
			}
		}
		if out := introspected(t, hs, admin.token); out["token_type"] != "session" || out["exp"].(float64) <= float64(e.clock.Now().Unix()) {
			t.Fatalf("session token: %v", out)
		}

		for name, tok := range map[string]string{
			"garbage":       "not-a-token",
			"empty":         "",
			"three dots":    "a.b.c",
			"long":          strings.Repeat("x", 5000),
			"unknown token": "3q2-" + strings.Repeat("A", 39),
		} {
			assertInactive(t, name, introspected(t, hs, tok))
		}

		// After logout the session token and its assertions are inactive.
		admin.must(`mutation { logout { ok } }`, nil)
		assertInactive(t, "session token after logout", introspected(t, hs, admin.token))
		assertInactive(t, "assertion after logout", introspected(t, hs, token))

		// A deactivated user's session is inactive too.
		admin = e.loginOn(hs, "admin", adminPassword)
		_, bobID := newUser(t, e, admin, "bob", nil)
		bobAssertion, _, _ := assertion(t, e.loginOn(hs, "bob", "bob-password-1"))
		if out := introspected(t, hs, bobAssertion); out["active"] != true {
			t.Fatalf("bob's assertion: %v", out)
		}
		admin.must(`mutation($id: ID!) { deactivateUser(input: {userId: $id}) { user { id } } }`, map[string]any{"id": bobID})
		assertInactive(t, "deactivated user's assertion", introspected(t, hs, bobAssertion))
	})
}

func TestAssertionKeysSharedByServers(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		// Servers start together on a database without keys and are asked
		// for keys at once: one key is created, and every server publishes it.
		e.assertionServer()
		servers := make([]*httptest.Server, 3)
		var wg sync.WaitGroup
		for i := range servers {
			wg.Go(func() {
				s, err := server.New(context.Background(), e.cfg, server.WithMFAOptions(mfa.WithClock(e.clock)))
				if err != nil {
					t.Error(err)
					return
				}
				servers[i] = httptest.NewServer(s.Handler())
				t.Cleanup(func() { servers[i].Close(); s.Close() })
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		sets := make([]jose.JSONWebKeySet, len(servers))
		start := make(chan struct{})
		for i, hs := range servers {
			wg.Go(func() { <-start; sets[i] = fetchJWKS(t, hs) })
		}
		close(start)
		wg.Wait()
		for i, set := range sets {
			if len(set.Keys) != 1 || set.Keys[0].KeyID != sets[0].Keys[0].KeyID {
				t.Fatalf("server %d publishes %v, server 0 %v: want one shared key", i, kids(set), kids(sets[0]))
			}
		}

		// A token from server A verifies with server B's key set and is
		// active at server C.
		a := e.loginOn(servers[0], "admin", adminPassword)
		token, _, _ := assertion(t, a)
		if _, _, err := verifyAssertion(token, fetchJWKS(t, servers[1]), e.clock.Now()); err != nil {
			t.Fatalf("server A's token with server B's keys: %v", err)
		}
		if out := introspected(t, servers[2], token); out["active"] != true {
			t.Fatalf("server A's token at server C: %v", out)
		}

		// The private key is sealed: a server with another seal key cannot
		// sign with it and brings its own, while the first stays published.
		e.cfg.SealKey = make([]byte, 32)
		other := e.assertionServer()
		otherToken, _, _ := assertion(t, e.loginOn(other, "admin", adminPassword))
		set := fetchJWKS(t, servers[0])
		_, kid, err := verifyAssertion(otherToken, set, e.clock.Now())
		if err != nil || kid == sets[0].Keys[0].KeyID || len(set.Keys) != 2 {
			t.Fatalf("a server with another seal key: kid %s, %v, keys %v", kid, err, kids(set))
		}
	})
}

func TestSessionAssertionAMRForWebAuthn(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		hs := e.assertionServer()
		admin := e.loginOn(hs, "admin", adminPassword)

		// A passkey without a password: a software key with user
		// verification, multi-factor.
		e.createUser(admin, map[string]any{"username": "quinn", "email": "quinn@example.com", "password": "quinn-password-1"})
		passkey := newAuthenticator(webauthntest.Options{})
		if enr, r := enrolWebAuthn(t, e.loginOn(hs, "quinn", "quinn-password-1"), "passkey", passkey); enr == nil {
			t.Fatalf("enrol passkey: %+v", r.Errors)
		}
		browser := e.clientOf(hs)
		d := browser.must(`mutation { beginPasskeyLogin(input: {organization: "demo"}) { ticket clientData } }`, nil)
		cd, _ := json.Marshal(dig(d, "beginPasskeyLogin", "clientData"))
		resp, err := passkey.login(cd)
		if err != nil {
			t.Fatal(err)
		}
		browser.must(`mutation($in: FinishPasskeyLoginInput!) { finishPasskeyLogin(input: $in) { status } }`,
			map[string]any{"in": map[string]any{"ticket": dig(d, "beginPasskeyLogin", "ticket"), "response": json.RawMessage(resp)}})
		token, amr, acr := assertion(t, browser)
		if want := []string{"swk", "user", "mfa"}; !slices.Equal(amr, want) || acr != mfa.ACRMultiFactor {
			t.Fatalf("passkey sign-in: amr %v acr %q, want %v", amr, acr, want)
		}
		if c, _, err := verifyAssertion(token, fetchJWKS(t, hs), e.clock.Now()); err != nil || c.Username != "quinn" || !slices.Equal(c.AMR, amr) {
			t.Fatalf("passkey sign-in assertion: %+v %v", c, err)
		}

		// A password and a security key: a hardware key.
		e.createUser(admin, map[string]any{"username": "rita", "email": "rita@example.com", "password": "rita-password-1"})
		key := newSecurityKey()
		enr, r := enrolWebAuthn(t, e.loginOn(hs, "rita", "rita-password-1"), "hardwarekey", key)
		if enr == nil {
			t.Fatalf("enrol security key: %+v", r.Errors)
		}
		rita := e.apiClientOf(hs)
		p := loginStep(t, rita, "rita", "rita-password-1")
		if _, r = assert(t, rita, rita, key, p["ticket"].(string), enr["id"].(string)); len(r.Errors) > 0 {
			t.Fatalf("security key step: %+v", r.Errors)
		}
		rita.token = dig(r.Data, "verifyFactor", "token").(string)
		if _, amr, acr = assertion(t, rita); !slices.Equal(amr, []string{"pwd", "hwk", "user", "mfa"}) || acr != mfa.ACRMultiFactor {
			t.Fatalf("password and security key: amr %v acr %q", amr, acr)
		}
	})
}
