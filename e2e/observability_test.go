package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/server"
)

// startObserved starts another server on the env's database with extra
// options (a logger, a tracer provider), like e.startServer.
func (e *env) startObserved(opts ...server.Option) *httptest.Server {
	e.t.Helper()
	s, err := server.New(context.Background(), e.cfg, append([]server.Option{server.WithMFAOptions(mfa.WithClock(e.clock))}, opts...)...)
	if err != nil {
		e.t.Fatalf("server.New: %v", err)
	}
	hs := httptest.NewServer(s.Handler())
	e.t.Cleanup(func() { hs.Close(); s.Close() })
	return hs
}

// scrape reads a server's /metrics (with token as bearer, if any) into
// series → value. A series is written as the exposition format does:
// name{label="value",...} with labels in name order.
func scrape(t *testing.T, base, token string) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// delta is how much each series grew between two scrapes (only those that
// changed).
func delta(before, after map[string]float64, prefix string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if strings.HasPrefix(k, prefix) && v != before[k] {
			out[k] = v - before[k]
		}
	}
	return out
}

// authDelta is delta over the authentication counters.
func authDelta(before, after map[string]float64) map[string]float64 {
	got := map[string]float64{}
	for _, p := range []string{"twofold_logins_total", "twofold_second_factor_verifications_total", "twofold_lockouts_total",
		"twofold_rate_limited_requests_total", "twofold_graphql_errors_total"} {
		for k, v := range delta(before, after, p) {
			got[k] = v
		}
	}
	return got
}

func wantDelta(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s grew by %v, want %v (all changes: %v)", what, k, got[k], v, got)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s grew by %v unexpectedly (all changes: %v)", what, k, v, got)
		}
	}
}

// TestMetricsCountAuthenticationOutcomes: each login, second-factor answer,
// lockout, rate-limited request and GraphQL error moves exactly its
// counter; the outbox depth is what the database holds; the connection
// pool is exported; TWOFOLD_METRICS_TOKEN guards /metrics.
func TestMetricsCountAuthenticationOutcomes(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		// Mail stays in the outbox: its depth is then known.
		e.mail().Down()
		admin := e.admin()
		carol, _ := newUser(t, e, admin, "carol", nil)
		app, enrollment, _ := enrolTOTP(t, carol, nil)
		e.createUser(admin, map[string]any{"username": "dave", "email": "dave@example.com", "password": "dave-password-1"})
		base := e.srv.URL
		c := e.client()

		step := func(what string, do func(), want map[string]float64) {
			t.Helper()
			before := scrape(t, base, "")
			do()
			wantDelta(t, what, authDelta(before, scrape(t, base, "")), want)
		}

		step("wrong password", func() {
			if _, r := c.login("demo", "carol", "not-her-password"); r.code() != "UNAUTHENTICATED" {
				t.Fatalf("wrong password: %+v", r.Errors)
			}
		}, map[string]float64{`twofold_logins_total{result="invalid"}`: 1, `twofold_graphql_errors_total{code="UNAUTHENTICATED"}`: 1})

		var ticket string
		step("right password, MFA required", func() {
			p := loginStep(t, c, "carol", "carol-password-1")
			if p["status"] != "MFA_REQUIRED" {
				t.Fatalf("login: %v", p)
			}
			ticket = p["ticket"].(string)
		}, map[string]float64{`twofold_logins_total{result="mfa_required"}`: 1})

		step("wrong code", func() {
			if r := verify(c, ticket, enrollment, map[string]any{"code": "000000"}, false); r.code() != "UNAUTHENTICATED" {
				t.Fatalf("wrong code: %+v", r.Errors)
			}
		}, map[string]float64{
			`twofold_second_factor_verifications_total{factor_type="totp",result="invalid"}`: 1,
			`twofold_graphql_errors_total{code="UNAUTHENTICATED"}`:                           1,
		})

		step("right code", func() {
			if r := verify(c, ticket, enrollment, map[string]any{"code": app.next()}, false); dig(r.Data, "verifyFactor", "status") != "AUTHENTICATED" {
				t.Fatalf("right code: %+v", r.Errors)
			}
		}, map[string]float64{`twofold_second_factor_verifications_total{factor_type="totp",result="authenticated"}`: 1})

		step("a password login without second factor", func() { e.loginAs("dave", "dave-password-1") },
			map[string]float64{`twofold_logins_total{result="authenticated"}`: 1})

		// Five wrong passwords lock dave: four answer invalid, the fifth
		// LOCKED; one lockout.
		step("lockout", func() {
			for i := range 5 {
				p, r := c.login("demo", "dave", "wrong-password-x")
				if i < 4 && r.code() != "UNAUTHENTICATED" || i == 4 && (p == nil || p["status"] != "LOCKED") {
					t.Fatalf("attempt %d: %v %+v", i+1, p, r.Errors)
				}
			}
		}, map[string]float64{
			`twofold_logins_total{result="invalid"}`:               4,
			`twofold_logins_total{result="locked"}`:                1,
			`twofold_lockouts_total`:                               1,
			`twofold_graphql_errors_total{code="UNAUTHENTICATED"}`: 4,
		})
		step("locked", func() {
			if p, _ := c.login("demo", "dave", "dave-password-1"); p == nil || p["status"] != "LOCKED" {
				t.Fatalf("locked user: %v", p)
			}
		}, map[string]float64{`twofold_logins_total{result="locked"}`: 1})

		step("a query refused for a missing permission", func() {
			if r := carol.post(`{ users(first: 1) { totalCount } }`, nil); r.code() != "FORBIDDEN" {
				t.Fatalf("users as carol: %+v", r.Errors)
			}
		}, map[string]float64{`twofold_graphql_errors_total{code="FORBIDDEN"}`: 1})

		// The outbox: every mail so far (enrolment, lockout) is pending
		// while the SMTP server is down; the gauge says what the
		// notifications list counts.
		pending := dig(admin.must(`{ notifications(first: 1, filter: {status: PENDING}) { totalCount } }`, nil),
			"notifications", "totalCount").(float64)
		m := scrape(t, base, "")
		if pending < 1 || m["twofold_outbox_pending"] != pending {
			t.Errorf("twofold_outbox_pending = %v, want the %v pending notifications", m["twofold_outbox_pending"], pending)
		}
		// The database pool.
		if m[`go_sql_max_open_connections{db_name="twofold"}`] == 0 && m[`go_sql_open_connections{db_name="twofold"}`] == 0 {
			t.Errorf("no database pool statistics: %v", keysWith(m, "go_sql_"))
		}

		// A server with a rate limit: burst 1, the second attempt is refused.
		e.cfg.MFA.AuthRatePerMinute = 4
		limited := e.startServer()
		e.cfg.MFA.AuthRatePerMinute = -1
		lc := e.clientOf(limited)
		before := scrape(t, limited.URL, "")
		lc.login("demo", "carol", "not-her-password")
		if _, r := lc.login("demo", "carol", "not-her-password"); r.code() != "RATE_LIMITED" {
			t.Fatalf("second attempt: %+v", r.Errors)
		}
		wantDelta(t, "rate limited", authDelta(before, scrape(t, limited.URL, "")), map[string]float64{
			`twofold_logins_total{result="invalid"}`:               1,
			`twofold_logins_total{result="rate_limited"}`:          1,
			`twofold_rate_limited_requests_total`:                  1,
			`twofold_graphql_errors_total{code="UNAUTHENTICATED"}`: 1,
			`twofold_graphql_errors_total{code="RATE_LIMITED"}`:    1,
		})

		// TWOFOLD_METRICS_TOKEN: without it, or with another, 401.
		e.cfg.MetricsToken = "metrics-secret-1"
		guarded := e.startServer()
		e.cfg.MetricsToken = ""
		for _, auth := range []string{"", "Bearer metrics-secret-2", "Bearer metrics-secret-", "Basic bWV0cmljcy1zZWNyZXQtMQ=="} {
			req, _ := http.NewRequest(http.MethodGet, guarded.URL+"/metrics", nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || bytes.Contains(body, []byte("twofold_")) {
				t.Errorf("/metrics with %q: %d %q", auth, resp.StatusCode, body)
			}
		}
		if m := scrape(t, guarded.URL, "metrics-secret-1"); len(keysWith(m, "twofold_logins_total")) == 0 {
			t.Errorf("/metrics with the token has no login counters")
		}
	})
}

func keysWith(m map[string]float64, prefix string) []string {
	var out []string
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) lines(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(b.buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line is not JSON: %s", l)
		}
		out = append(out, m)
	}
	return out
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRequestIDsAndAccessLog: every answer has an X-Request-Id (the
// caller's when sane, else a new one), every GraphQL error carries it in
// extensions.requestId (the resolvers' and the HTTP layer's), and each
// request writes one access log line with it, and nothing secret.
func TestRequestIDsAndAccessLog(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		logs := &logBuffer{}
		logger, err := server.NewLogger(logs, envMap{"TWOFOLD_LOG_FORMAT": "json", "TWOFOLD_LOG_LEVEL": "debug"}.get)
		if err != nil {
			t.Fatal(err)
		}
		hs := e.startObserved(server.WithLogger(logger))

		const password = "not-the-password-42"
		post := func(id, contentType, body string, header ...string) (*http.Response, map[string]any) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, hs.URL+"/graphql?token=in-the-query", strings.NewReader(body))
			req.Header.Set("Content-Type", contentType)
			if id != "" {
				req.Header.Set("X-Request-Id", id)
			}
			for i := 0; i < len(header); i += 2 {
				req.Header.Set(header[i], header[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			return resp, out
		}
		// Each attempt names another user: none gets locked.
		n := 0
		login := func() string {
			n++
			return `{"query":"mutation { login(input: {organization: \"demo\", username: \"nobody-` + strconv.Itoa(n) + `\", password: \"` + password + `\"}) { status } }"}`
		}
		errorID := func(out map[string]any) any {
			errs, _ := out["errors"].([]any)
			if len(errs) == 0 {
				return nil
			}
			return dig(errs[0], "extensions", "requestId")
		}

		// A sane id is kept and echoed, in the header and the error.
		resp, out := post("lb-7f3a.42:x_y", "application/json", login(), "Authorization", "Bearer secret-bearer-token", "Cookie", "twofold_session=secret-cookie-value", "Origin", appOrigin)
		if got := resp.Header.Get("X-Request-Id"); got != "lb-7f3a.42:x_y" || errorID(out) != got {
			t.Errorf("sane id: header %q, error %v", got, errorID(out))
		}
		if dig(out["errors"].([]any)[0], "extensions", "code") != "UNAUTHENTICATED" {
			t.Fatalf("login: %v", out)
		}
		// An id that is not sane is replaced.
		hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
		for _, bad := range []string{"has spaces in it", strings.Repeat("a", 65), "quote\"d", "tab\tbed"} {
			resp, out = post(bad, "application/json", login())
			if got := resp.Header.Get("X-Request-Id"); !hexID.MatchString(got) || errorID(out) != got {
				t.Errorf("id %q: header %q, error %v", bad, got, errorID(out))
			}
		}
		// None sent: one is made, a new one per request.
		resp, out = post("", "application/json", login())
		first := resp.Header.Get("X-Request-Id")
		resp, _ = post("", "application/json", login())
		if !hexID.MatchString(first) || errorID(out) != first || resp.Header.Get("X-Request-Id") == first {
			t.Errorf("generated ids: %q then %q, error %v", first, resp.Header.Get("X-Request-Id"), errorID(out))
		}
		// Errors of the HTTP layer carry it too (415: not JSON).
		resp, out = post("plain-text-1", "text/plain", login())
		if resp.StatusCode != http.StatusUnsupportedMediaType || errorID(out) != "plain-text-1" {
			t.Errorf("415: %d, error id %v", resp.StatusCode, errorID(out))
		}
		// A parse error (refused before any resolver) too.
		_, out = post("parse-error-1", "application/json", `{"query":"mutation {"}`)
		if errorID(out) != "parse-error-1" {
			t.Errorf("parse error: %v", out)
		}
		// A request that succeeds has the header.
		resp, err = http.Get(hs.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		healthID := resp.Header.Get("X-Request-Id")
		if !hexID.MatchString(healthID) {
			t.Errorf("/healthz: X-Request-Id %q", healthID)
		}

		// The access log: one line per request, with its id.
		var access []map[string]any
		for _, l := range logs.lines(t) {
			if l["msg"] == "http request" {
				access = append(access, l)
			}
		}
		byID := map[any]map[string]any{}
		for _, l := range access {
			byID[l["request_id"]] = l
		}
		if len(access) != 10 || len(byID) != 10 {
			t.Fatalf("want 10 access lines with distinct ids, got %d: %v", len(access), access)
		}
		l := byID["lb-7f3a.42:x_y"]
		if l == nil || l["method"] != "POST" || l["path"] != "/graphql" || l["status"] != float64(200) ||
			l["client_ip"] != "127.0.0.1" || l["bytes"].(float64) <= 0 || l["duration"] == nil || l["level"] != "INFO" {
			t.Errorf("access line: %v", l)
		}
		if l := byID["plain-text-1"]; l == nil || l["status"] != float64(415) {
			t.Errorf("415 access line: %v", l)
		}
		if l := byID[healthID]; l == nil || l["level"] != "DEBUG" || l["path"] != "/healthz" {
			t.Errorf("health probe access line: %v", l)
		}
		// Nothing secret, whatever was sent.
		all := logs.String()
		for _, secret := range []string{password, "secret-bearer-token", "secret-cookie-value", "in-the-query", adminPassword} {
			if strings.Contains(all, secret) {
				t.Errorf("the log holds %q:\n%s", secret, all)
			}
		}
	})
}

// TestTracingSpans: a GraphQL request is a server span (continuing the
// caller's traceparent), with the GraphQL operation as a child, the SQL
// statements and the plugin call below it, all in one trace; no span holds
// a password or a code.
func TestTracingSpans(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		carol, _ := newUser(t, e, admin, "carol", nil)
		app, enrollment, _ := enrolTOTP(t, carol, nil)

		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		defer tp.Shutdown(context.Background())
		hs := e.startObserved(server.WithTracerProvider(tp))
		c := e.clientOf(hs)
		ticket := loginStep(t, c, "carol", "carol-password-1")["ticket"].(string)
		rec.Reset()

		code := app.next()
		const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		body, _ := json.Marshal(map[string]any{"query": verifyFactor, "variables": map[string]any{"in": map[string]any{
			"ticket": ticket, "enrollmentId": enrollment, "response": map[string]any{"code": code}}}})
		req, _ := http.NewRequest(http.MethodPost, hs.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		if r := c.send(req); dig(r.Data, "verifyFactor", "status") != "AUTHENTICATED" {
			t.Fatalf("verifyFactor: %+v", r.Errors)
		}

		spans := rec.Ended()
		byID := map[string]sdktrace.ReadOnlySpan{}
		for _, s := range spans {
			if s.SpanContext().TraceID().String() != traceID {
				t.Errorf("span %q is in trace %s, not the caller's", s.Name(), s.SpanContext().TraceID())
			}
			byID[s.SpanContext().SpanID().String()] = s
		}
		// under reports whether s descends from the span with id.
		under := func(s sdktrace.ReadOnlySpan, id string) bool {
			for p := s.Parent().SpanID().String(); ; {
				if p == id {
					return true
				}
				ps, ok := byID[p]
				if !ok {
					return false
				}
				p = ps.Parent().SpanID().String()
			}
		}
		find := func(match func(sdktrace.ReadOnlySpan) bool) []sdktrace.ReadOnlySpan {
			var out []sdktrace.ReadOnlySpan
			for _, s := range spans {
				if match(s) {
					out = append(out, s)
				}
			}
			return out
		}
		httpSpans := find(func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "POST /graphql" })
		gql := find(func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "graphql mutation" })
		if len(httpSpans) != 1 || len(gql) != 1 {
			t.Fatalf("want one HTTP and one GraphQL span, got %v", names(spans))
		}
		if httpSpans[0].Parent().SpanID().String() != "00f067aa0ba902b7" || !under(gql[0], httpSpans[0].SpanContext().SpanID().String()) {
			t.Errorf("the GraphQL span is not under the HTTP span, under the caller's")
		}
		if !slices.Contains(attr(gql[0], "graphql.root_fields").AsStringSlice(), "verifyFactor") {
			t.Errorf("GraphQL span attributes: %v", gql[0].Attributes())
		}
		gqlID := gql[0].SpanContext().SpanID().String()
		system := "sqlite"
		if strings.HasPrefix(e.cfg.DatabaseURL, "mysql") {
			system = "mysql"
		}
		sql := find(func(s sdktrace.ReadOnlySpan) bool { return attr(s, "db.query.text").AsString() != "" })
		if len(sql) < 3 {
			t.Fatalf("want the statements of a verification as spans, got %v", names(spans))
		}
		for _, s := range sql {
			if !under(s, gqlID) || attr(s, "db.system.name").AsString() != system {
				t.Errorf("SQL span %q: under GraphQL %v, attributes %v", s.Name(), under(s, gqlID), s.Attributes())
			}
		}
		if !slices.ContainsFunc(sql, func(s sdktrace.ReadOnlySpan) bool { return strings.HasPrefix(s.Name(), "UPDATE enrollments") }) {
			t.Errorf("no span for the enrollment's compare-and-swap among %v", names(sql))
		}
		call := find(func(s sdktrace.ReadOnlySpan) bool { return strings.HasSuffix(s.Name(), "/FinishVerification") })
		if len(call) != 1 || !under(call[0], gqlID) {
			t.Errorf("want one plugin call span under the GraphQL span, got %v", names(call))
		}
		// No secret in any span.
		for _, s := range spans {
			for _, a := range s.Attributes() {
				if v := a.Value.Emit(); strings.Contains(v, code) || strings.Contains(v, ticket) || strings.Contains(v, "carol-password-1") {
					t.Errorf("span %q attribute %s holds a secret: %s", s.Name(), a.Key, v)
				}
			}
		}
	})
}

func attr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value
		}
	}
	return attribute.Value{}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name()
	}
	return out
}

type envMap map[string]string

func (m envMap) get(k string) string { return m[k] }
