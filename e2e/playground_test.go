package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/twofoldauth/twofold/mfa"
)

// TestPlaygroundInChromium opens /playground outside dev mode in headless
// Chromium with no network, as a new admin would: the schema is refused
// before login (with the hint), the login mutation answers MFA_REQUIRED,
// verifyFactor with a TOTP code logs in (the session cookie, nothing
// else), the schema loads, and users lists the organization's users. Every
// request the page makes goes to the test server.
func TestPlaygroundInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	eachDB(t, func(t *testing.T, e *env) {
		if e.cfg.Dev {
			t.Fatal("the test must run outside dev mode")
		}
		admin := e.admin()
		app, enrollmentID, _ := enrolTOTP(t, admin, nil)
		e.createUser(admin, map[string]any{"username": "carol", "email": "carol@example.com", "password": "carol-password-1"})

		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
			chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
			// Any name but the test server's address fails to resolve: a
			// CDN request could not succeed, and is caught below anyway.
			chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
			chromedp.UserDataDir(t.TempDir()))...)
		defer cancelAlloc()
		ctx, cancel := chromedp.NewContext(alloc)
		defer cancel()
		if err := chromedp.Do(ctx); err != nil { // open the tab before listening
			t.Fatal(err)
		}
		var mu sync.Mutex
		var requested, console []string
		if err := chromedp.Listen(ctx, func(ev any) {
			mu.Lock()
			defer mu.Unlock()
			switch ev := ev.(type) {
			case *network.EventRequestWillBeSent:
				u := ev.Request.URL
				if len(u) > 80 {
					u = u[:80] + "…"
				}
				requested = append(requested, u)
			case *runtime.EventExceptionThrown:
				console = append(console, fmt.Sprintf("exception: %s %+v", ev.ExceptionDetails.Text, ev.ExceptionDetails.Exception))
			case *runtime.EventConsoleAPICalled:
				if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
					var args []string
					for _, a := range ev.Args {
						args = append(args, string(a.Value)+a.Description)
					}
					console = append(console, strings.Join(args, " "))
				}
			}
		}); err != nil {
			t.Fatal(err)
		}

		if err := chromedp.Do(ctx, chromedp.Navigate(e.srv.URL+"/playground")); err != nil {
			t.Fatalf("open /playground: %v", err)
		}
		response := func() string {
			v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".graphiql-response .CodeMirror").CodeMirror.getValue()`))
			return v
		}
		step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
			t.Helper()
			c, done := context.WithTimeout(ctx, 60*time.Second)
			defer done()
			if err := chromedp.Do(c, actions...); err != nil {
				status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("schema-status")))
				mu.Lock()
				defer mu.Unlock()
				dbg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.getValue() + " | " + document.querySelector(".graphiql-execute-button").outerHTML`))
				t.Fatalf("%s: %v (schema status %q, response pane %q)\nrequests: %v\nconsole: %v\n%s", what, err, status, response(), requested, console, dbg)
			}
		}
		// run puts an operation in the query editor, runs it with the
		// execute button and returns the response pane once it holds want.
		run := func(what, query, want string) map[string]any {
			t.Helper()
			q, _ := json.Marshal(query)
			step(what,
				chromedp.Evaluate[chromedp.Void](`document.querySelector(".graphiql-response .CodeMirror").CodeMirror.setValue("");
					document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.setValue(`+string(q)+`)`),
				// GraphiQL parses the editor after a short debounce; until
				// then the button still offers the previous operations.
				chromedp.Poll[chromedp.Void](`document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.operations?.length === 1`),
				chromedp.Click(chromedp.CSS(".graphiql-execute-button")),
				chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector(".graphiql-response .CodeMirror").CodeMirror.getValue().includes(%q)`, want)))
			var out struct {
				Data   map[string]any
				Errors []gqlError
			}
			if err := json.Unmarshal([]byte(response()), &out); err != nil || len(out.Errors) > 0 {
				t.Fatalf("%s: response pane %q (%v)", what, response(), err)
			}
			return out.Data
		}

		step("before login the schema is refused, with the hint",
			chromedp.Poll[chromedp.Void](`document.body.dataset.schema === "refused" && !document.getElementById("hint").hidden`),
			chromedp.Poll[chromedp.Void](`document.querySelector(".graphiql-response .CodeMirror").CodeMirror.getValue().includes("Log in with the login mutation, then reload the schema")`))

		d := run("login mutation",
			`mutation { login(input: {organization: "demo", username: "admin", password: "`+adminPassword+`"}) { status ticket factors { id factorType } } }`,
			`"MFA_REQUIRED"`)
		ticket, _ := dig(d, "login", "ticket").(string)
		if factors, _ := dig(d, "login", "factors").([]any); ticket == "" || len(factors) != 1 || dig(factors[0], "id") != enrollmentID {
			t.Fatalf("login in the Playground: %v", d)
		}
		step("the schema stays refused after the password alone", chromedp.Poll[chromedp.Void](`document.body.dataset.schema === "refused"`))

		d = run("verifyFactor with a TOTP code",
			`mutation { verifyFactor(input: {ticket: "`+ticket+`", enrollmentId: "`+enrollmentID+`", response: {code: "`+app.next()+`"}}) { status user { username } } }`,
			`"AUTHENTICATED"`)
		if dig(d, "verifyFactor", "user", "username") != "admin" {
			t.Fatalf("verifyFactor in the Playground: %v", d)
		}
		step("the schema loads once logged in",
			chromedp.Poll[chromedp.Void](`document.body.dataset.schema === "loaded" && document.getElementById("hint").hidden`))

		d = run("users", `query { users(first: 20, orderBy: {field: USERNAME}) { totalCount edges { node { username } } } }`, `"totalCount"`)
		var names []string
		edges, _ := dig(d, "users", "edges").([]any)
		for _, edge := range edges {
			names = append(names, fmt.Sprint(dig(edge, "node", "username")))
		}
		if dig(d, "users", "totalCount") != float64(2) || strings.Join(names, ",") != "admin,carol" {
			t.Fatalf("users in the Playground: %v", d)
		}

		mu.Lock()
		defer mu.Unlock()
		if len(requested) < 5 {
			t.Fatalf("only %d requests recorded: %v", len(requested), requested)
		}
		for _, u := range requested {
			if !strings.HasPrefix(u, e.srv.URL+"/") && !strings.HasPrefix(u, "data:") {
				t.Errorf("the page requested %s: only %s may be asked", u, e.srv.URL)
			}
		}
	})
}

// TestPlaygroundPage checks what the browser test cannot see: the page and
// its files are served to anyone outside dev mode, name only this server,
// and carry their licences; / leads there; and the server's own origin may
// send cookie requests while a foreign one still may not.
func TestPlaygroundPage(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		get := func(path string, header map[string]string) (*http.Response, []byte) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
			for k, v := range header {
				req.Header.Set(k, v)
			}
			resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp, body
		}
		// Served to anyone, no cookie, outside dev mode.
		resp, page := get("/playground", nil)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("/playground: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(page), -1)
		if len(refs) != 6 {
			t.Fatalf("page references %v", refs)
		}
		for _, ref := range refs {
			if ref[1] == "/demo" {
				continue
			}
			if !strings.HasPrefix(ref[1], "/playground/") {
				t.Errorf("the page loads %s from elsewhere", ref[1])
				continue
			}
			r, body := get(ref[1], nil)
			if r.StatusCode != http.StatusOK || len(body) == 0 || r.Header.Get("ETag") == "" {
				t.Errorf("%s: %d, %d bytes", ref[1], r.StatusCode, len(body))
			}
			if strings.HasSuffix(ref[1], ".js") && r.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
				t.Errorf("%s: Content-Type %s", ref[1], r.Header.Get("Content-Type"))
			}
			if regexp.MustCompile(`(?i)(src|href)\s*=\s*["']https?://|unpkg\.com|jsdelivr\.net|cdnjs\.cloudflare|esm\.sh|fonts\.googleapis`).Match(body) {
				t.Errorf("%s names a remote host", ref[1])
			}
			// Compressed on request, the same bytes.
			gr, gzBody := get(ref[1], map[string]string{"Accept-Encoding": "gzip"})
			if len(body) > 1024 {
				zr, err := gzip.NewReader(bytes.NewReader(gzBody))
				if err != nil || gr.Header.Get("Content-Encoding") != "gzip" {
					t.Fatalf("%s gzip: %v %q", ref[1], err, gr.Header.Get("Content-Encoding"))
				}
				if plain, _ := io.ReadAll(zr); !bytes.Equal(plain, body) {
					t.Errorf("%s: the gzip form differs", ref[1])
				}
			}
			if nm, _ := get(ref[1], map[string]string{"If-None-Match": r.Header.Get("ETag")}); nm.StatusCode != http.StatusNotModified {
				t.Errorf("%s revalidation: %d", ref[1], nm.StatusCode)
			}
		}
		for _, lic := range []string{"LICENSE.graphiql", "LICENSE.react", "LICENSE.react-dom"} {
			if r, body := get("/playground/assets/"+lic, nil); r.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("MIT License")) {
				t.Errorf("%s: %d %.40q", lic, r.StatusCode, body)
			}
		}
		if r, _ := get("/playground/assets/nope.js", nil); r.StatusCode != http.StatusNotFound {
			t.Errorf("unknown asset: %d", r.StatusCode)
		}
		if r, _ := get("/", nil); r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/playground" {
			t.Errorf("/: %d %s", r.StatusCode, r.Header.Get("Location"))
		}

		// The page's own origin (not in the configured list) may log in
		// and use the cookie; a foreign one still may not.
		if strings.Contains(strings.Join(e.cfg.AllowedOrigins, ","), e.srv.URL) {
			t.Fatal("the test server's origin must not be configured")
		}
		page1 := e.client()
		page1.origin = e.srv.URL
		if p, r := page1.login("demo", "admin", adminPassword); p == nil || p["status"] != "AUTHENTICATED" {
			t.Fatalf("login from the server's own origin: %+v", r)
		}
		if d := page1.must(`{ viewer { username } }`, nil); dig(d, "viewer", "username") != "admin" {
			t.Fatalf("cookie session from the server's own origin: %v", d)
		}
		page1.origin = "http://evil.test"
		if r := page1.post(`{ viewer { username } }`, nil); r.Status != http.StatusForbidden || r.code() != "FORBIDDEN" {
			t.Fatalf("cookie request from a foreign origin: %+v", r)
		}
		// A forged Host does not help a foreign page: the Origin must be
		// the one of the Host the request went to.
		page1.origin = "http://localhost.evil.test"
		if r := page1.post(`{ viewer { username } }`, nil); r.code() != "FORBIDDEN" {
			t.Fatalf("cookie request from a look-alike origin: %+v", r)
		}
	})
}

// TestIntrospectionRules: outside dev mode the schema is for users with any
// admin permission; in dev mode it is for everyone.
func TestIntrospectionRules(t *testing.T) {
	const introspection = `{ __schema { queryType { name } } }`
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		plain, _ := newUser(t, e, admin, "plain", nil)
		refused := map[string]*client{"anonymous": e.client(), "plain user": plain}
		for name, c := range refused {
			r := c.post(introspection, nil)
			if r.code() != "FORBIDDEN" || dig(r.Data, "__schema", "queryType") != nil {
				t.Errorf("%s introspecting: %+v", name, r)
			}
			if r := c.post(`{ __type(name: "User") { name } }`, nil); r.code() != "FORBIDDEN" {
				t.Errorf("%s asking __type: %+v", name, r)
			}
		}
		for _, p := range mfa.AllPermissions {
			c, _ := newUser(t, e, admin, "with-"+strings.ToLower(strings.ReplaceAll(string(p), "_", "-")), map[string]any{"permissions": []string{string(p)}})
			if d := c.must(introspection, nil); dig(d, "__schema", "queryType", "name") != "Query" {
				t.Errorf("%s introspecting: %v", p, d)
			}
		}
		// A cookie session (as the Playground has) works like a token.
		browser := e.client()
		if p, r := browser.login("demo", "admin", adminPassword); p == nil || p["status"] != "AUTHENTICATED" {
			t.Fatalf("login: %+v", r)
		}
		browser.must(introspection, nil)

		// Dev mode: everyone.
		e.cfg.Dev = true
		dev := e.clientOf(e.startServer())
		if d := dev.must(introspection, nil); dig(d, "__schema", "queryType", "name") != "Query" {
			t.Errorf("anonymous introspection in dev mode: %v", d)
		}
	})
}

// apq posts a persisted query: the hash always, the text when query is set.
func (c *client) apq(query, hash string, vars map[string]any) response {
	c.t.Helper()
	body := map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}}
	if query != "" {
		body["query"] = query
	}
	if vars != nil {
		body["variables"] = vars
	}
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, c.url+"/graphql", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.send(req)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestPersistedQueries: the automatic persisted query round trip over HTTP,
// a cache per server, and persisted queries held to the same rules as
// sent ones (two aliased logins are refused before either runs).
func TestPersistedQueries(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		const query = `query Me { viewer { username } }`
		hash := sha256Hex(query)
		notFound := func(what string, r response) {
			t.Helper()
			if r.code() != "BAD_USER_INPUT" || r.Errors[0].Message != "PersistedQueryNotFound" ||
				r.Errors[0].Extensions["reason"] != "PERSISTED_QUERY_NOT_FOUND" || r.Data != nil {
				t.Fatalf("%s: %+v", what, r)
			}
		}
		notFound("the hash before the query was sent", admin.apq("", hash, nil))
		if r := admin.apq(query, hash, nil); len(r.Errors) > 0 || dig(r.Data, "viewer", "username") != "admin" {
			t.Fatalf("query and hash: %+v", r)
		}
		if r := admin.apq("", hash, nil); len(r.Errors) > 0 || dig(r.Data, "viewer", "username") != "admin" {
			t.Fatalf("the hash alone: %+v", r)
		}
		// The persisted text runs as whoever sends the hash.
		if r := e.client().apq("", hash, nil); len(r.Errors) > 0 || dig(r.Data, "viewer") != nil {
			t.Fatalf("the hash, anonymous: %+v", r)
		}
		if r := admin.apq(`query Other { viewer { username } }`, hash, nil); r.code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "hash does not match") {
			t.Fatalf("a query under another's hash: %+v", r)
		}
		// Another server has its own cache: the client sends the text again.
		other := e.clientOf(e.startServer())
		other.token = admin.token
		notFound("the hash on another server", other.apq("", hash, nil))

		// Two logins in one persisted query are refused, whether the text
		// comes with the hash or from the cache, and nothing is checked.
		const twoLogins = `mutation($p: String!) {
  a: login(input: {organization: "demo", username: "admin", password: $p}) { status }
  b: login(input: {organization: "demo", username: "admin", password: "wrong-password-2"}) { status }
}`
		twoHash := sha256Hex(twoLogins)
		tooMany := func(what string, r response) {
			t.Helper()
			if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["reason"] != "TOO_MANY_SECRET_CHECKS" || r.Data["a"] != nil {
				t.Fatalf("%s: %+v", what, r)
			}
		}
		anon := e.client()
		tooMany("two aliased logins with their hash", anon.apq(twoLogins, twoHash, map[string]any{"p": "wrong-password-1"}))
		tooMany("two aliased logins by hash", anon.apq("", twoHash, map[string]any{"p": "wrong-password-1"}))
		d := admin.must(`{ auditEvents(first: 10, filter: {action: "login.failed"}) { totalCount } user(id: "`+
			dig(admin.must(`{ viewer { id } }`, nil), "viewer", "id").(string)+`") { locked } }`, nil)
		if dig(d, "auditEvents", "totalCount") != float64(0) || dig(d, "user", "locked") != false {
			t.Fatalf("a refused persisted query checked a password: %v", d)
		}
		if p, r := e.client().login("demo", "admin", adminPassword); p == nil || p["status"] != "AUTHENTICATED" {
			t.Fatalf("admin login after the refused queries: %+v", r)
		}
	})
}
