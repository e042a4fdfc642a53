package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models/modelstest"
	"github.com/twofoldauth/twofold/plugins/webauthntest"
)

// opToken is the operator token of every operator test env.
var opToken, opEntry = func() (string, string) {
	tok, entry, err := mfa.NewOperatorToken("ops")
	if err != nil {
		panic(err)
	}
	return tok, entry
}()

// eachOperatorDB is eachDB with an operator configured (opToken) and links
// in mails based at publicURL.
func eachOperatorDB(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, d := range modelstest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := &env{t: t, cfg: testConfig(modelstest.NewURL(t, d)), clock: &clock{now: time.Now().UTC().Truncate(time.Millisecond)}}
			e.cfg.MFA.PublicURL = publicURL
			e.cfg.MFA.LinkRequestFloor = 5 * time.Millisecond
			// Two operators configured (rotation): either token works.
			_, otherEntry, _ := mfa.NewOperatorToken("rotated")
			tokens, err := mfa.ParseOperatorTokens(otherEntry + "," + opEntry)
			if err != nil {
				t.Fatal(err)
			}
			e.cfg.MFA.OperatorTokens = tokens
			e.sink = mailSink(t, &e.cfg)
			e.srv = e.startServer()
			fn(t, e)
		})
	}
}

// operator is an API client with the operator's token.
func (e *env) operator() *client {
	c := e.client()
	c.origin, c.http, c.token = "", &http.Client{}, opToken
	return c
}

const (
	createOrgMut = `mutation($in: CreateOrganizationInput!) { createOrganization(input: $in) {
  organization { id slug name license { seats used mfaSubscribed } } firstAdmin { id username email permissions } } }`
	setLicenseMut = `mutation($in: SetLicenseInput!) { setLicense(input: $in) { organization { id license { seats used available percentUsed mfaSubscribed } } } }`
	suspendMut    = `mutation($id: ID!) { suspendOrganization(input: {organizationId: $id}) { organization { slug license { suspendedAt } } } }`
	resumeMut     = `mutation($id: ID!) { resumeOrganization(input: {organizationId: $id}) { organization { slug license { suspendedAt } } } }`
	orgsQuery     = `query($after: String) { organizations(first: 2, after: $after) { totalCount edges { cursor node { slug license { seats used } } } pageInfo { hasNextPage endCursor } } }`
)

func orgCount(t *testing.T, e *env) float64 {
	t.Helper()
	return dig(e.operator().must(orgsQuery, nil), "organizations", "totalCount").(float64)
}

func TestOperatorCreatesOrganizationAndActivatesItsAdmin(t *testing.T) {
	eachOperatorDB(t, func(t *testing.T, e *env) {
		op := e.operator()
		in := map[string]any{"slug": "acme", "name": "Acme Legal", "firstAdmin": map[string]any{"username": "boss", "email": "boss@acme.test"}}
		d := op.must(createOrgMut, map[string]any{"in": in})
		orgID := dig(d, "createOrganization", "organization", "id").(string)
		if dig(d, "createOrganization", "organization", "license", "seats") != nil || dig(d, "createOrganization", "firstAdmin", "email") != "boss@acme.test" {
			t.Fatalf("created: %v", d)
		}
		if p := dig(d, "createOrganization", "firstAdmin", "permissions").([]any); len(p) != 3 {
			t.Fatalf("first admin permissions: %v", p)
		}
		// No password yet: the activation mail's link sets it.
		if _, r := e.client().login("acme", "boss", "anything-at-all-1"); r.code() != "UNAUTHENTICATED" {
			t.Fatalf("login before activation: %+v", r.Errors)
		}
		m := e.mailed("boss@acme.test", "Your Acme Legal administrator account", 1)[0]
		token := linkToken(t, m, "reset")
		e.client().must(resetPasswordMut, map[string]any{"t": token, "p": "boss-first-password"})
		boss := e.loginIn("", "acme", "boss", "boss-first-password")
		ev := boss.must(`{ auditEvents(filter: {action: "organization.created"}) { edges { node { action details } } } }`, nil)
		if !strings.Contains(jsonOf(ev), `"actor":"operator:ops"`) {
			t.Fatalf("organization.created audit lacks the operator: %s", jsonOf(ev))
		}
		// Refusals change nothing.
		n := orgCount(t, e)
		r := op.post(createOrgMut, map[string]any{"in": in})
		wantError(t, "duplicate slug", r, "CONFLICT", "")
		bad := map[string]any{"slug": "Not A Slug", "name": "x", "firstAdmin": map[string]any{"username": "a", "email": "a@x.test"}}
		if r := op.post(createOrgMut, map[string]any{"in": bad}); r.code() != "BAD_USER_INPUT" {
			t.Fatalf("bad slug: %+v", r.Errors)
		}
		bad = map[string]any{"slug": "okslug", "name": "x", "firstAdmin": map[string]any{"username": "a", "email": "not-an-address"}}
		if r := op.post(createOrgMut, map[string]any{"in": bad}); r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "firstAdmin.email" {
			t.Fatalf("bad email: %+v", r.Errors)
		}
		if got := orgCount(t, e); got != n {
			t.Fatalf("refused creations changed the organizations: %v -> %v", n, got)
		}
		if orgID == "" {
			t.Fatal("no id")
		}
	})
}

func TestOperatorOperationsAreRefusedToOrganizationUsersAndBack(t *testing.T) {
	eachOperatorDB(t, func(t *testing.T, e *env) {
		orgID := dig(e.operator().must(createOrgMut, map[string]any{"in": map[string]any{"slug": "acme", "name": "Acme",
			"firstAdmin": map[string]any{"username": "boss", "email": "boss@acme.test"}}}), "createOrganization", "organization", "id").(string)
		admin := e.admin() // MANAGE_ORGANIZATION of demo: still no operator
		wrong := e.operator()
		wrong.token = "tfop_" + strings.Repeat("A", 43) // not configured
		calls := map[string]map[string]any{
			orgsQuery:     nil,
			createOrgMut:  {"in": map[string]any{"slug": "evil", "name": "Evil", "firstAdmin": map[string]any{"username": "x", "email": "x@evil.test"}}},
			setLicenseMut: {"in": map[string]any{"organizationId": orgID, "seats": 1, "mfaSubscribed": false}},
			suspendMut:    {"id": orgID},
			resumeMut:     {"id": orgID},
		}
		for doc, vars := range calls {
			wantError(t, "admin: "+doc, admin.post(doc, vars), "FORBIDDEN", "OPERATOR_ONLY")
			wantError(t, "nobody: "+doc, e.client().post(doc, vars), "UNAUTHENTICATED", "")
			wantError(t, "unknown token: "+doc, wrong.post(doc, vars), "UNAUTHENTICATED", "")
		}
		d := e.operator().must(`{ organizations(first: 10) { edges { node { slug license { seats mfaSubscribed suspendedAt } } } } }`, nil)
		if s := jsonOf(d); strings.Contains(s, "evil") || strings.Contains(s, `"seats":1`) || strings.Contains(s, `"mfaSubscribed":false`) || strings.Contains(s, `"suspendedAt":"`) {
			t.Fatalf("refused operator calls changed something: %s", s)
		}
		// The other way: operator credentials are no organization user.
		op := e.operator()
		for _, doc := range []string{`{ users { totalCount } }`, `{ licenseUsage { used } }`, `{ auditEvents { totalCount } }`,
			`mutation { setOrganizationMfa(input: {enabled: false}) { mfaEnabled } }`,
			`mutation { createUser(input: {username: "sneaky", email: "s@x.test"}) { user { id } } }`} {
			wantError(t, "operator: "+doc, op.post(doc, nil), "FORBIDDEN", "NOT_AN_ORGANIZATION_USER")
		}
		if v := op.must(`{ viewer { id } }`, nil)["viewer"]; v != nil {
			t.Fatalf("operator has a viewer: %v", v)
		}
		if n := dig(admin.must(`{ users(filter: {search: "sneaky"}) { totalCount } }`, nil), "users", "totalCount"); n != float64(0) {
			t.Fatalf("operator created a user: %v", n)
		}
	})
}

func TestOperatorListsSetsLicenseSuspendsAndResumes(t *testing.T) {
	eachOperatorDB(t, func(t *testing.T, e *env) {
		op := e.operator()
		ids := map[string]string{}
		for _, slug := range []string{"acme", "bolt", "crux"} {
			d := op.must(createOrgMut, map[string]any{"in": map[string]any{"slug": slug, "name": slug,
				"firstAdmin": map[string]any{"username": "boss", "email": "boss@" + slug + ".test"}}})
			ids[slug] = dig(d, "createOrganization", "organization", "id").(string)
		}
		// Keyset pages of two, by slug: acme bolt | crux demo.
		var slugs []string
		var after any
		for {
			d := op.must(orgsQuery, map[string]any{"after": after})
			for _, e := range dig(d, "organizations", "edges").([]any) {
				slugs = append(slugs, dig(e, "node", "slug").(string))
			}
			if dig(d, "organizations", "pageInfo", "hasNextPage") != true {
				break
			}
			after = dig(d, "organizations", "pageInfo", "endCursor")
		}
		if strings.Join(slugs, " ") != "acme bolt crux demo" {
			t.Fatalf("organizations: %v", slugs)
		}
		d := op.must(setLicenseMut, map[string]any{"in": map[string]any{"organizationId": ids["acme"], "seats": 50, "mfaSubscribed": true}})
		if l := dig(d, "setLicense", "organization", "license").(map[string]any); l["seats"] != float64(50) || l["used"] != float64(0) || l["available"] != float64(50) {
			t.Fatalf("license: %v", l)
		}
		for _, bad := range []map[string]any{{"organizationId": ids["acme"], "seats": -1, "mfaSubscribed": true},
			{"organizationId": "not-an-id", "seats": 1, "mfaSubscribed": true}} {
			if r := op.post(setLicenseMut, map[string]any{"in": bad}); r.code() != "BAD_USER_INPUT" {
				t.Fatalf("bad licence %v: %+v", bad, r.Errors)
			}
		}
		if r := op.post(setLicenseMut, map[string]any{"in": map[string]any{"organizationId": "01890000-0000-7000-8000-000000000000", "seats": 1, "mfaSubscribed": true}}); r.code() != "NOT_FOUND" {
			t.Fatalf("unknown organization: %+v", r.Errors)
		}

		// Suspension: sessions end, a right password gets a clear answer,
		// a wrong one the usual one; another organization is untouched.
		demo := e.admin()
		token := linkToken(t, e.mailed("boss@bolt.test", "Your bolt administrator account", 1)[0], "reset")
		e.client().must(resetPasswordMut, map[string]any{"t": token, "p": "bolt-boss-password"})
		boss := e.loginIn("", "bolt", "boss", "bolt-boss-password")
		op.must(setLicenseMut, map[string]any{"in": map[string]any{"organizationId": ids["bolt"], "seats": 10, "mfaSubscribed": true}})
		op.must(suspendMut, map[string]any{"id": ids["bolt"]})
		if v := boss.must(`{ viewer { id } }`, nil)["viewer"]; v != nil {
			t.Fatalf("a suspended organization's session lives on: %v", v)
		}
		_, r := e.client().login("bolt", "boss", "bolt-boss-password")
		wantError(t, "suspended login", r, "FORBIDDEN", "ORGANIZATION_SUSPENDED")
		_, r = e.client().login("bolt", "boss", "wrong-password-here")
		wantError(t, "suspended login, wrong password", r, "UNAUTHENTICATED", "INVALID_CREDENTIALS")
		if v := demo.must(`{ viewer { id } }`, nil)["viewer"]; v == nil {
			t.Fatal("suspending bolt ended demo's session")
		}
		op.must(resumeMut, map[string]any{"id": ids["bolt"]})
		boss = e.loginIn("", "bolt", "boss", "bolt-boss-password")
		ev := jsonOf(boss.must(`{ auditEvents(first: 100) { edges { node { action details } } } }`, nil))
		for _, a := range []string{"organization.created", "license.changed", "organization.suspended", "organization.resumed"} {
			if !strings.Contains(ev, `"action":"`+a+`"`) {
				t.Fatalf("no %s audit event in bolt: %s", a, ev)
			}
		}
		if strings.Count(ev, "operator:ops") != 4 {
			t.Fatalf("operator actions lack the operator in bolt's audit: %s", ev)
		}
	})
}

// TestOperatorCredentialsOnEveryOrganizationOperation is generated from the
// schema: every organization operation (@auth, or guarded by mfa itself)
// called with operator credentials and valid arguments is refused, and
// writes nothing about the users it names.
func TestOperatorCredentialsOnEveryOrganizationOperation(t *testing.T) {
	ops, schema := loadSchemaOperations(t)
	eachOperatorDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		seq := 0
		auditCount := func(id string) float64 {
			d := admin.must(`query($id: ID) { auditEvents(filter: {userId: $id}) { totalCount } }`, map[string]any{"id": id})
			return dig(d, "auditEvents", "totalCount").(float64)
		}
		n := 0
		for _, op := range ops {
			f := authzFields[op.field.Name]
			want, reason := "FORBIDDEN", "NOT_AN_ORGANIZATION_USER"
			switch {
			case f.public || f.operator || (!op.guarded && f.checks == nil):
				continue
			case !op.guarded:
				// No @auth: mfa finds no viewer.
				want, reason = "UNAUTHENTICATED", ""
			}
			n++
			x := &authzCall{t: t, e: e, admin: admin, field: &f, role: roleNobody, seq: &seq}
			var vars map[string]any
			if f.vars != nil {
				vars = f.vars(x)
			}
			before := map[string]float64{}
			for _, id := range x.touchIDs {
				before[id] = auditCount(id)
			}
			r := e.operator().post(op.document(schema), vars)
			if r.code() != want || reasonOf(r) != reason {
				t.Errorf("%s with operator credentials: got %s/%s %+v, want %s/%s", op.field.Name, r.code(), reasonOf(r), r.Errors, want, reason)
				continue
			}
			for id, c := range before {
				if got := auditCount(id); got != c {
					t.Errorf("%s with operator credentials wrote %v audit events about %s", op.field.Name, got-c, id)
				}
			}
		}
		if n < 30 {
			t.Fatalf("only %d organization operations found", n)
		}
	})
}

// TestSuspendedOrganizationRefusesPasskeySignIn: suspension stops the
// passwordless path too, with the same answer as a password login.
func TestSuspendedOrganizationRefusesPasskeySignIn(t *testing.T) {
	eachOperatorDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		quinn, _ := newUser(t, e, admin, "quinn", nil)
		key := newAuthenticator(webauthntest.Options{})
		if enr, r := enrolWebAuthn(t, quinn, "passkey", key); enr == nil {
			t.Fatalf("enrol: %+v", r.Errors)
		}
		signIn := func() response {
			c := e.client()
			d := c.must(`mutation { beginPasskeyLogin(input: {organization: "demo"}) { ticket clientData } }`, nil)
			cd, _ := json.Marshal(dig(d, "beginPasskeyLogin", "clientData"))
			resp, err := key.login(cd)
			if err != nil {
				t.Fatal(err)
			}
			return c.post(`mutation($in: FinishPasskeyLoginInput!) { finishPasskeyLogin(input: $in) { status token } }`,
				map[string]any{"in": map[string]any{"ticket": dig(d, "beginPasskeyLogin", "ticket"), "response": json.RawMessage(resp)}})
		}
		if r := signIn(); dig(r.Data, "finishPasskeyLogin", "status") != "AUTHENTICATED" {
			t.Fatalf("before suspension: %+v", r)
		}
		op := e.operator()
		var demoID string
		for _, edge := range dig(op.must(`{ organizations(first: 10) { edges { node { id slug } } } }`, nil), "organizations", "edges").([]any) {
			if dig(edge, "node", "slug") == "demo" {
				demoID = dig(edge, "node", "id").(string)
			}
		}
		op.must(suspendMut, map[string]any{"id": demoID})
		if r := signIn(); r.code() != "FORBIDDEN" || r.Errors[0].Extensions["reason"] != "ORGANIZATION_SUSPENDED" {
			t.Fatalf("passkey sign-in of a suspended organization: %+v", r)
		}
	})
}
