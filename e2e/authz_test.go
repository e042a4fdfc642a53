package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/twofoldauth/twofold/plugins/webauthntest"
)

// The roles every operation is called as: nobody (no session), a user of
// the organization with no permission, with each single permission, and an
// organization manager of ANOTHER organization naming this one's ids.
const (
	roleNobody  = "nobody"
	rolePlain   = "plain"
	roleForeign = "foreign"
)

var authzRoles = []string{roleNobody, rolePlain, "MANAGE_ORGANIZATION", "MANAGE_USERS", "VIEW_AUDIT", roleForeign}

// authzUser is a user with an API client logged in as them.
type authzUser struct {
	c              *client
	id, name, pass string
}

// authzCall is one call of one field by one role: the builder reads the
// caller and the subject (whose ids the arguments name) from it.
type authzCall struct {
	t        *testing.T
	e        *env
	admin    *client // the organization's admin: fixtures
	field    *authzField
	role     string
	caller   *authzUser // nil for nobody
	subj     *authzUser
	seq      *int
	touchIDs []string // users whose audit trail a refused call must leave alone
}

// fresh creates a plain user of the organization and logs them in.
func (x *authzCall) fresh() *authzUser {
	x.t.Helper()
	*x.seq++
	name := fmt.Sprintf("authz-%d", *x.seq)
	pass := name + "-password-1"
	id := x.e.createUser(x.admin, map[string]any{"username": name, "email": name + "@example.com", "password": pass})
	x.touchIDs = append(x.touchIDs, id)
	return &authzUser{c: x.e.loginAs(name, pass), id: id, name: name, pass: pass}
}

// inOrg reports whether the caller is a user of the organization.
func (x *authzCall) inOrg() bool { return x.caller != nil && x.role != roleForeign }

// subject is whose things the call names: for self-service fields the
// caller themselves when they belong to the organization, otherwise a fresh
// user of the organization (so the foreign admin names this
// organization's ids).
func (x *authzCall) subject() *authzUser {
	if x.subj == nil {
		if x.field.self && x.inOrg() {
			x.subj = x.caller
		} else {
			x.subj = x.fresh()
		}
	}
	return x.subj
}

// me is the caller, or for nobody a fresh user whose things the anonymous
// call names.
func (x *authzCall) me() *authzUser {
	if x.caller != nil {
		return x.caller
	}
	return x.subject()
}

func (x *authzCall) unique(prefix string) string {
	*x.seq++
	return fmt.Sprintf("%s-%d", prefix, *x.seq)
}

// totp enrols an authenticator app for u.
func (x *authzCall) totp(u *authzUser) (*totpApp, string, []any) {
	return enrolTOTP(x.t, u.c, nil)
}

// ticket enrols a TOTP app for a fresh user and returns a login ticket that
// waits for it.
func (x *authzCall) ticket() (*totpApp, string, string) {
	u := x.fresh()
	app, eid, _ := x.totp(u)
	p := loginStep(x.t, x.e.client(), u.name, u.pass)
	return app, eid, p["ticket"].(string)
}

// authzField says how to call one schema field. Every Query and Mutation
// field needs one: TestEveryOperationHonoursItsAuthRequirement fails for a
// field without an entry.
type authzField struct {
	// self: the field acts on the caller's own things.
	self bool
	// ids: the arguments name objects of the organization, so the foreign
	// admin must get NOT_FOUND (an answer that tells nothing about them).
	ids bool
	// checks stands in for @auth on fields without it that mfa guards
	// itself because they also serve login tickets: "-" for none, "" for
	// a session, or the permission.
	checks *string
	// public: no session needed; every role gets want (usually success:
	// the arguments themselves are the credential).
	public bool
	// operator: an @operator field; every organization user gets
	// FORBIDDEN, nobody UNAUTHENTICATED (operator_test.go calls them with
	// operator credentials).
	operator bool
	want     string
	vars     func(x *authzCall) map[string]any
}

func ptr(s string) *string { return &s }

func withInput(m map[string]any) map[string]any { return map[string]any{"input": m} }

var authzFields = map[string]authzField{
	// --- queries
	"viewer":            {public: true},
	"factorTypes":       {public: true},
	"auditEvents":       {},
	"myEnrollments":     {self: true},
	"myTrustedBrowsers": {self: true},
	"sessionAssertion":  {self: true},
	"effectivePolicy": {self: true, ids: true, vars: func(x *authzCall) map[string]any {
		return map[string]any{"userId": x.subject().id}
	}},
	"policies":      {},
	"enrolledUsers": {},
	"mfaStats":      {},
	"users":         {},
	"companies":     {},
	"user": {ids: true, vars: func(x *authzCall) map[string]any {
		return map[string]any{"id": x.subject().id}
	}},
	"userEnrollments": {ids: true, vars: func(x *authzCall) map[string]any {
		return map[string]any{"userId": x.subject().id}
	}},
	"userTrustedBrowsers": {ids: true, vars: func(x *authzCall) map[string]any {
		return map[string]any{"userId": x.subject().id}
	}},

	// --- sign-in: the ticket or password is the credential
	"login": {public: true, vars: func(x *authzCall) map[string]any {
		u := x.fresh()
		return withInput(map[string]any{"organization": "demo", "username": u.name, "password": u.pass})
	}},
	"beginVerification": {public: true, vars: func(x *authzCall) map[string]any {
		_, eid, ticket := x.ticket()
		return withInput(map[string]any{"ticket": ticket, "enrollmentId": eid})
	}},
	"verifyFactor": {public: true, vars: func(x *authzCall) map[string]any {
		app, eid, ticket := x.ticket()
		return withInput(map[string]any{"ticket": ticket, "enrollmentId": eid, "response": map[string]any{"code": app.next()}})
	}},
	"beginPasskeyLogin": {public: true, vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"organization": "demo"})
	}},
	"finishPasskeyLogin": {public: true, vars: func(x *authzCall) map[string]any {
		u := x.fresh()
		key := newAuthenticator(webauthntest.Options{})
		if enr, r := enrolWebAuthn(x.t, u.c, "passkey", key); enr == nil {
			x.t.Fatalf("enrol passkey: %+v", r.Errors)
		}
		d := x.e.client().must(`mutation { beginPasskeyLogin(input: {organization: "demo"}) { ticket clientData } }`, nil)
		cd, _ := json.Marshal(dig(d, "beginPasskeyLogin", "clientData"))
		resp, err := key.login(cd)
		if err != nil {
			x.t.Fatal(err)
		}
		return withInput(map[string]any{"ticket": dig(d, "beginPasskeyLogin", "ticket"), "response": json.RawMessage(resp)})
	}},

	// --- the viewer's own session, password and factors
	"logout":           {self: true},
	"logoutEverywhere": {self: true},
	"changePassword": {self: true, vars: func(x *authzCall) map[string]any {
		me := x.me()
		return withInput(map[string]any{"currentPassword": me.pass, "newPassword": me.pass + "-changed"})
	}},
	// beginEnrollment serves login tickets too, so mfa checks it: with a
	// userId it is a user manager's action.
	"beginEnrollment": {checks: ptr("MANAGE_USERS"), ids: true, vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"factorType": "totp", "userId": x.subject().id})
	}},
	"completeEnrollment": {checks: ptr(""), self: true, ids: true, vars: func(x *authzCall) map[string]any {
		s := x.subject()
		d := s.c.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp"}})
		app := newTOTPApp(x.t, dig(d, "beginEnrollment", "clientData", "secret").(string))
		return withInput(map[string]any{"enrollmentId": dig(d, "beginEnrollment", "enrollmentId"), "response": map[string]any{"code": app.next()}})
	}},
	"renameEnrollment": {self: true, ids: true, vars: func(x *authzCall) map[string]any {
		_, eid, _ := x.totp(x.subject())
		return withInput(map[string]any{"enrollmentId": eid, "label": "renamed"})
	}},
	"removeEnrollment": {self: true, ids: true, vars: func(x *authzCall) map[string]any {
		_, eid, _ := x.totp(x.subject())
		return withInput(map[string]any{"enrollmentId": eid})
	}},
	"regenerateRecoveryCodes": {self: true, vars: func(x *authzCall) map[string]any {
		x.totp(x.me())
		return nil
	}},
	"revokeTrustedBrowser": {self: true, ids: true, vars: func(x *authzCall) map[string]any {
		s := x.subject()
		_, _, codes := x.totp(s)
		trustBrowserFor(x.t, x.e, s.name, s.pass, &codes)
		return withInput(map[string]any{"trustedBrowserId": trustedBrowserIDs(x.t, x.admin, s.id)[0]})
	}},
	"revokeAllTrustedBrowsers": {self: true, ids: true, vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"userId": x.subject().id})
	}},

	// --- administration of the organization's users
	"createUser": {vars: func(x *authzCall) map[string]any {
		n := x.unique("created")
		return withInput(map[string]any{"username": n, "email": n + "@example.com"})
	}},
	"updateUser": {ids: true, vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"userId": x.subject().id, "displayName": "Changed"})
	}},
	"deactivateUser": {ids: true, vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"userId": x.subject().id})
	}},
	"reactivateUser": {ids: true, vars: func(x *authzCall) map[string]any {
		id := x.subject().id
		x.admin.must(deactivateMut, map[string]any{"id": id})
		return withInput(map[string]any{"userId": id})
	}},
	"unlockUser": {ids: true, vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"userId": x.subject().id})
	}},
	"resetUserMfa": {ids: true, vars: func(x *authzCall) map[string]any {
		x.totp(x.subject())
		return withInput(map[string]any{"userId": x.subject().id})
	}},
	"removeUserEnrollment": {ids: true, vars: func(x *authzCall) map[string]any {
		_, eid, _ := x.totp(x.subject())
		return withInput(map[string]any{"enrollmentId": eid})
	}},
	"requestEnrollment": {ids: true, vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"userId": x.subject().id, "factorType": "totp"})
	}},
	"cancelEnrollmentRequest": {ids: true, vars: func(x *authzCall) map[string]any {
		v := map[string]any{"userId": x.subject().id, "factorType": "totp"}
		x.admin.must(`mutation($in: EnrollmentRequestInput!) { requestEnrollment(input: $in) { request { factorType } } }`, map[string]any{"in": v})
		return withInput(v)
	}},
	"setPolicy": {ids: true, vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"scope": map[string]any{"userId": x.subject().id}, "mode": "OPTIONAL"})
	}},
	// A dry run names a user of the organization: the foreign admin gets
	// NOT_FOUND.
	"simulatePolicy": {ids: true, vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"scope": map[string]any{"userId": x.subject().id}, "mode": "REQUIRED"})
	}},
	// The ticket of an ENROLLMENT_REQUIRED login with skips left is the
	// credential (grace_test.go has the refusals).
	"skipEnrollment": {public: true, vars: func(x *authzCall) map[string]any {
		u := x.fresh()
		x.e.setPolicy(x.admin, map[string]any{"scope": map[string]any{"userId": u.id}, "mode": "REQUIRED", "maxEnrollmentSkips": 3})
		d := x.e.client().must(loginSkipMutation, map[string]any{"o": "demo", "u": u.name, "p": u.pass})
		return withInput(map[string]any{"ticket": dig(d, "login", "ticket")})
	}},
	"clearPolicy": {ids: true, vars: func(x *authzCall) map[string]any {
		scope := map[string]any{"userId": x.subject().id}
		x.e.setPolicy(x.admin, map[string]any{"scope": scope, "mode": "OPTIONAL"})
		return withInput(map[string]any{"scope": scope})
	}},
	// --- self-service links: the link (and for a lost device the
	// password) is the credential
	"requestMfaRecovery": {public: true, vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"organization": "demo", "usernameOrEmail": x.fresh().name})
	}},
	"requestPasswordReset": {public: true, vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"organization": "demo", "usernameOrEmail": x.fresh().name})
	}},
	"confirmMfaRecovery": {public: true, vars: func(x *authzCall) map[string]any {
		u := x.fresh()
		x.e.client().must(requestRecoveryMut, map[string]any{"o": "demo", "u": u.name})
		return withInput(map[string]any{"token": mailedToken(x.e, u.name+"@example.com", subjRecoveryLink, "recover"), "password": u.pass})
	}},
	"resetPassword": {public: true, vars: func(x *authzCall) map[string]any {
		u := x.fresh()
		x.e.client().must(requestResetMut, map[string]any{"o": "demo", "u": u.name})
		return withInput(map[string]any{"token": mailedToken(x.e, u.name+"@example.com", subjResetLink, "reset"), "newPassword": u.pass + "-reset"})
	}},
	"disableMyMfa": {self: true, vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"password": x.me().pass})
	}},
	// --- the operator's: never an organization user's (operator_test.go)
	"organizations": {operator: true},
	"createOrganization": {operator: true, vars: func(x *authzCall) map[string]any {
		n := x.unique("org")
		return withInput(map[string]any{"slug": n, "name": n, "firstAdmin": map[string]any{"username": "boss", "email": "boss@" + n + ".test"}})
	}},
	"setLicense": {operator: true, vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"organizationId": authzOrgID(x), "seats": 1, "mfaSubscribed": false})
	}},
	"suspendOrganization": {operator: true, vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"organizationId": authzOrgID(x)})
	}},
	"resumeOrganization": {operator: true, vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"organizationId": authzOrgID(x)})
	}},
	// --- seats and the master switch; licenseUsage also serves billing
	// contacts, so mfa checks it
	"licenseUsage":       {checks: ptr("MANAGE_ORGANIZATION")},
	"setOrganizationMfa": {vars: func(x *authzCall) map[string]any { return withInput(map[string]any{"enabled": true}) }},
	"setBillingContact": {ids: true, vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"userId": x.subject().id, "billingContact": true})
	}},
	"createCompany": {vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"name": x.unique("Company")})
	}},

	// --- mail: the caller's organization's outbox and templates. The
	// event changed is one no other entry waits for, and its switch is
	// only ever set on, so the other entries' mails still go out.
	"notifications": {vars: func(x *authzCall) map[string]any {
		return map[string]any{"filter": map[string]any{"status": "SENT"}}
	}},
	"notificationSettings": {},
	"previewNotification": {vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"event": "account.unlocked", "subject": "Unlocked at {{.organization_name}}"})
	}},
	"setNotificationTemplate": {vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"event": "account.unlocked", "subject": "Unlocked at {{.organization_name}}"})
	}},
	"resetNotificationTemplate": {vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"event": "account.unlocked"})
	}},
	"setNotificationEnabled": {vars: func(x *authzCall) map[string]any {
		return withInput(map[string]any{"event": "account.unlocked", "enabled": true})
	}},
}

// schemaOperation is a Query or Mutation field and what its @auth asks.
type schemaOperation struct {
	kind  string // query or mutation
	field *ast.FieldDefinition
	// guarded: @auth is present; requires is its permission ("" for any
	// session).
	guarded  bool
	requires string
}

func loadSchemaOperations(t *testing.T) ([]schemaOperation, *ast.Schema) {
	t.Helper()
	files, err := filepath.Glob("../graph/schema/*.graphqls")
	if err != nil || len(files) == 0 {
		t.Fatalf("schema files: %v %v", files, err)
	}
	var sources []*ast.Source
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, &ast.Source{Name: f, Input: string(b)})
	}
	schema, gerr := gqlparser.LoadSchema(sources...)
	if gerr != nil {
		t.Fatalf("schema: %v", gerr)
	}
	var ops []schemaOperation
	for kind, def := range map[string]*ast.Definition{"query": schema.Query, "mutation": schema.Mutation} {
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			op := schemaOperation{kind: kind, field: f}
			if d := f.Directives.ForName("auth"); d != nil {
				op.guarded = true
				if a := d.Arguments.ForName("requires"); a != nil && a.Value != nil {
					op.requires = a.Value.Raw
				}
			}
			ops = append(ops, op)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].field.Name < ops[j].field.Name })
	return ops, schema
}

// document is the operation calling the field with every argument as a
// variable of the schema's type.
func (op schemaOperation) document(schema *ast.Schema) string {
	var defs, args []string
	for _, a := range op.field.Arguments {
		defs = append(defs, "$"+a.Name+": "+a.Type.String())
		args = append(args, a.Name+": $"+a.Name)
	}
	doc := op.kind
	if len(defs) > 0 {
		doc += "(" + strings.Join(defs, ", ") + ")"
	}
	doc += " { " + op.field.Name
	if len(args) > 0 {
		doc += "(" + strings.Join(args, ", ") + ")"
	}
	if k := schema.Types[op.field.Type.Name()].Kind; k == ast.Object || k == ast.Interface || k == ast.Union {
		doc += " { __typename }"
	}
	return doc + " }"
}

// want is the code the role must get: success ("") where @auth lets the
// role through, UNAUTHENTICATED without a session, FORBIDDEN without the
// permission, NOT_FOUND for another organization's admin naming this
// organization's objects.
func (op schemaOperation) want(f authzField, role string) string {
	guarded, requires := op.guarded, op.requires
	if f.checks != nil {
		guarded, requires = *f.checks != "-", *f.checks
	}
	switch {
	case f.operator && role == roleNobody:
		return "UNAUTHENTICATED"
	case f.operator:
		return "FORBIDDEN"
	case f.public || !guarded:
		return f.want
	case role == roleNobody:
		return "UNAUTHENTICATED"
	case role == roleForeign && f.ids:
		return "NOT_FOUND"
	case role == roleForeign, requires == "", role == requires, role == "MANAGE_ORGANIZATION":
		return ""
	}
	return "FORBIDDEN"
}

// TestEveryOperationHonoursItsAuthRequirement is generated from the schema:
// every Query and Mutation field, called by every role with valid
// arguments, answers what its @auth requirement says, and a refused call
// writes nothing (no audit event about the caller or the subject).
func TestEveryOperationHonoursItsAuthRequirement(t *testing.T) {
	ops, schema := loadSchemaOperations(t)
	var missing []string
	seen := map[string]bool{}
	for _, op := range ops {
		seen[op.field.Name] = true
		if _, ok := authzFields[op.field.Name]; !ok {
			missing = append(missing, op.kind+"."+op.field.Name)
		}
	}
	for name := range authzFields {
		if !seen[name] {
			missing = append(missing, "stale entry "+name)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("authzFields must name every operation (add an argument builder): %v", missing)
	}
	eachDB(t, func(t *testing.T, e *env) {
		e.addOrganization("other")
		admin := e.admin()
		otherAdmin := e.loginIn("", "other", "admin", adminPassword)
		seq := 0
		newCaller := func(role string) *authzUser {
			seq++
			name := fmt.Sprintf("caller-%d", seq)
			pass := name + "-password-1"
			in := map[string]any{"username": name, "email": name + "@example.com", "password": pass}
			switch role {
			case roleNobody:
				return nil
			case roleForeign:
				in["permissions"] = []string{"MANAGE_ORGANIZATION"}
				id := e.createUser(otherAdmin, in)
				return &authzUser{c: e.loginIn("", "other", name, pass), id: id, name: name, pass: pass}
			case rolePlain:
			default:
				in["permissions"] = []string{role}
			}
			id := e.createUser(admin, in)
			return &authzUser{c: e.loginAs(name, pass), id: id, name: name, pass: pass}
		}
		auditCount := func(id string) float64 {
			d := admin.must(`query($id: ID) { auditEvents(filter: {userId: $id}) { totalCount } }`, map[string]any{"id": id})
			return dig(d, "auditEvents", "totalCount").(float64)
		}
		for _, op := range ops {
			f := authzFields[op.field.Name]
			doc := op.document(schema)
			t.Run(op.field.Name, func(t *testing.T) {
				for _, role := range authzRoles {
					x := &authzCall{t: t, e: e, admin: admin, field: &f, role: role, seq: &seq}
					x.caller = newCaller(role)
					if x.inOrg() {
						x.touchIDs = append(x.touchIDs, x.caller.id)
					}
					var vars map[string]any
					if f.vars != nil {
						vars = f.vars(x)
					}
					c := e.client()
					if x.caller != nil {
						c = x.caller.c
					}
					before := map[string]float64{}
					for _, id := range x.touchIDs {
						before[id] = auditCount(id)
					}
					r := c.post(doc, vars)
					want := op.want(f, role)
					if r.code() != want || (want == "" && len(r.Errors) > 0) {
						t.Errorf("%s as %s: got %q %+v, want %q\n%s", op.field.Name, role, r.code(), r.Errors, want, doc)
						continue
					}
					if want == "" {
						continue
					}
					for id, n := range before {
						if got := auditCount(id); got != n {
							t.Errorf("%s as %s was refused (%s) but wrote %v audit events about %s", op.field.Name, role, want, got-n, id)
						}
					}
				}
			})
		}
	})
}

// authzOrgID is the organization's id (demo's), as its users see it.
func authzOrgID(x *authzCall) string {
	x.t.Helper()
	return dig(x.admin.must(`{ viewer { organization { id } } }`, nil), "viewer", "organization", "id").(string)
}
