package e2e

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/twofoldauth/twofold/plugins/webauthntest"
)

const webauthnOrigin = "http://localhost:8080"

var (
	// listedKey is the one security key model the test deployment accepts.
	listedKey = uuid.MustParse("cb69481e-8ff7-4039-93ec-0a2729a154a8")
	// testVendor is the security key vendor the test deployment trusts:
	// its root is the hardwarekey plugin's attestation_roots (testConfig),
	// as a deployment adds a vendor Twofold does not ship.
	testVendor = func() *webauthntest.Issuer {
		i, err := webauthntest.NewIssuer()
		if err != nil {
			panic(err)
		}
		return i
	}()
)

// authenticator is a software authenticator in a browser at origin.
type authenticator struct {
	*webauthntest.Authenticator
	origin string
}

func newAuthenticator(o webauthntest.Options) *authenticator {
	return &authenticator{Authenticator: webauthntest.NewAuthenticator(o), origin: webauthnOrigin}
}

// newSecurityKey is a key of the listed model from the trusted vendor.
func newSecurityKey() *authenticator {
	return newAuthenticator(webauthntest.Options{AAGUID: listedKey, Attestation: webauthntest.AttestationBasic, Issuer: testVendor,
		UserNotVerified: true, Transports: []string{"usb"}})
}

func (a *authenticator) register(clientData json.RawMessage) (json.RawMessage, error) {
	return a.Register(a.origin, clientData)
}

func (a *authenticator) login(clientData json.RawMessage) (json.RawMessage, error) {
	return a.Login(a.origin, clientData)
}

// enrolWebAuthn registers a's credential as factorType for the client's
// user and returns the enrollment, or the failed response.
func enrolWebAuthn(t *testing.T, c *client, factorType string, a *authenticator) (map[string]any, response) {
	t.Helper()
	d := c.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": factorType}})
	cd, _ := json.Marshal(dig(d, "beginEnrollment", "clientData"))
	resp, err := a.register(cd)
	if err != nil {
		t.Fatal(err)
	}
	r := c.post(`mutation($in: CompleteEnrollmentInput!) { completeEnrollment(input: $in) {
	  enrollment { id factorType label aaguid transports backupEligible backupState } } }`,
		map[string]any{"in": map[string]any{"enrollmentId": dig(d, "beginEnrollment", "enrollmentId"), "response": json.RawMessage(resp)}})
	if len(r.Errors) > 0 {
		return nil, r
	}
	return dig(r.Data, "completeEnrollment", "enrollment").(map[string]any), r
}

// assert answers a WebAuthn second step: beginVerification on one server,
// verifyFactor on another.
func assert(t *testing.T, begin, finish *client, a *authenticator, ticket, enrollmentID string) (json.RawMessage, response) {
	t.Helper()
	d := begin.must(`mutation($in: BeginVerificationInput!) { beginVerification(input: $in) { clientData } }`,
		map[string]any{"in": map[string]any{"ticket": ticket, "enrollmentId": enrollmentID}})
	cd, _ := json.Marshal(dig(d, "beginVerification", "clientData"))
	resp, err := a.login(cd)
	if err != nil {
		t.Fatal(err)
	}
	return resp, verify(finish, ticket, enrollmentID, map[string]any{}, false).withResponse(t, finish, ticket, enrollmentID, resp)
}

// withResponse re-sends verifyFactor with the assertion JSON (verify takes
// a map; assertions are raw JSON).
func (response) withResponse(t *testing.T, c *client, ticket, enrollmentID string, resp json.RawMessage) response {
	return c.post(verifyFactor, map[string]any{"in": map[string]any{"ticket": ticket, "enrollmentId": enrollmentID, "response": resp}})
}

func reason(r response) string {
	if len(r.Errors) == 0 {
		return ""
	}
	s, _ := r.Errors[0].Extensions["reason"].(string)
	return s
}

func TestPasskeyEnrolSignInAndFailures(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		pat, _ := newUser(t, e, admin, "pat", nil)
		// This test makes many wrong answers on purpose.
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "maxFailedAttempts": 50})
		key := newAuthenticator(webauthntest.Options{BackupEligible: true, BackupState: true})
		enr, r := enrolWebAuthn(t, pat, "passkey", key)
		if enr == nil {
			t.Fatalf("passkey enrolment: %+v", r.Errors)
		}
		if enr["backupEligible"] != true || enr["aaguid"] == nil || enr["label"] != "Passkey" {
			t.Fatalf("enrollment: %v", enr)
		}
		eid := enr["id"].(string)
		second := e.startServer()
		a, b := e.client(), e.clientOf(second)

		// Begun on one server, finished on the other.
		p := loginStep(t, a, "pat", "pat-password-1")
		assertion, r := assert(t, a, b, key, p["ticket"].(string), eid)
		if len(r.Errors) > 0 || dig(r.Data, "verifyFactor", "status") != "AUTHENTICATED" {
			t.Fatalf("passkey second factor across servers: %+v", r)
		}
		// The same assertion on a new login: refused.
		p = loginStep(t, a, "pat", "pat-password-1")
		a.must(`mutation($in: BeginVerificationInput!) { beginVerification(input: $in) { clientData } }`,
			map[string]any{"in": map[string]any{"ticket": p["ticket"], "enrollmentId": eid}})
		if r := r.withResponse(t, a, p["ticket"].(string), eid, assertion); reason(r) != "INVALID_CODE" {
			t.Fatalf("replayed assertion: %+v", r)
		}
		// Wrong origin.
		key.origin = "http://evil.test"
		if _, r := assert(t, a, a, key, p["ticket"].(string), eid); reason(r) != "INVALID_CODE" {
			t.Fatalf("wrong origin: %+v", r)
		}
		key.origin = webauthnOrigin
		// Wrong RP id.
		key.Options.RPID = "evil.test"
		if _, r := assert(t, a, a, key, p["ticket"].(string), eid); reason(r) != "INVALID_CODE" {
			t.Fatalf("wrong RP id: %+v", r)
		}
		key.Options.RPID = ""
		// User verification missing.
		key.Options.UserNotVerified = true
		if _, r := assert(t, a, a, key, p["ticket"].(string), eid); reason(r) != "USER_VERIFICATION_REQUIRED" {
			t.Fatalf("no UV: %+v", r)
		}
		key.Options.UserNotVerified = false
		// A cloned authenticator: the counter went back.
		key.Counter = 0
		if _, r := assert(t, a, a, key, p["ticket"].(string), eid); reason(r) != "CLONE_WARNING" {
			t.Fatalf("counter regression: %+v", r)
		}
		patID := lookupUserID(t, admin, "pat")
		ev := admin.must(`query($id: ID) { auditEvents(filter: {userId: $id, action: "factor.clone_warning"}) { totalCount } }`, map[string]any{"id": patID})
		if dig(ev, "auditEvents", "totalCount") != float64(1) {
			t.Fatalf("clone warning not audited: %v", ev)
		}
		// Exclusion: a second registration is told about the first.
		d := pat.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "passkey"}})
		if !strings.Contains(jsonOf(d), `"excludeCredentials":[{`) {
			t.Fatalf("existing passkey not excluded: %s", jsonOf(d))
		}
	})
}

func TestPasswordlessSignIn(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		quinn, _ := newUser(t, e, admin, "quinn", nil)
		key := newAuthenticator(webauthntest.Options{})
		if enr, r := enrolWebAuthn(t, quinn, "passkey", key); enr == nil {
			t.Fatalf("enrol: %+v", r.Errors)
		}
		signIn := func(c *client, org string) response {
			d := c.must(`mutation($o: String!) { beginPasskeyLogin(input: {organization: $o}) { ticket clientData } }`, map[string]any{"o": org})
			cd, _ := json.Marshal(dig(d, "beginPasskeyLogin", "clientData"))
			resp, err := key.login(cd)
			if err != nil {
				t.Fatal(err)
			}
			return c.post(`mutation($in: FinishPasskeyLoginInput!) { finishPasskeyLogin(input: $in) { status token user { username } } }`,
				map[string]any{"in": map[string]any{"ticket": dig(d, "beginPasskeyLogin", "ticket"), "response": json.RawMessage(resp)}})
		}
		browser := e.client()
		r := signIn(browser, "demo")
		if len(r.Errors) > 0 || dig(r.Data, "finishPasskeyLogin", "status") != "AUTHENTICATED" || dig(r.Data, "finishPasskeyLogin", "user", "username") != "quinn" {
			t.Fatalf("passwordless: %+v", r)
		}
		if dig(browser.must(`{ viewer { username lastMfaAt } }`, nil), "viewer", "lastMfaAt") == nil {
			t.Fatal("passwordless sign-in did not count as multi-factor")
		}
		// Another organization's ticket does not find the user.
		if r := signIn(e.client(), "nowhere"); r.code() != "UNAUTHENTICATED" {
			t.Fatalf("unknown organization: %+v", r)
		}
		// Policy can forbid it.
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "allowPasswordless": false})
		if r := signIn(e.client(), "demo"); r.code() != "FORBIDDEN" {
			t.Fatalf("passwordless forbidden by policy: %+v", r)
		}
	})
}

func TestSecurityKeyAttestationPolicy(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		rae, _ := newUser(t, e, admin, "rae", nil)
		listed := newSecurityKey()
		enr, r := enrolWebAuthn(t, rae, "hardwarekey", listed)
		if enr == nil || enr["aaguid"] != listedKey.String() {
			t.Fatalf("listed key: %v %+v", enr, r.Errors)
		}
		_, r = enrolWebAuthn(t, rae, "hardwarekey", newAuthenticator(webauthntest.Options{Attestation: webauthntest.AttestationBasic, Issuer: testVendor}))
		if r.code() != "BAD_USER_INPUT" || reason(r) != "ATTESTATION_REFUSED" || !strings.Contains(r.Errors[0].Message, "not on the allowed list") {
			t.Fatalf("unlisted key: %+v", r)
		}
		p := loginStep(t, e.client(), "rae", "rae-password-1")
		c := e.client()
		if _, r := assert(t, c, c, listed, p["ticket"].(string), enr["id"].(string)); dig(r.Data, "verifyFactor", "status") != "AUTHENTICATED" {
			t.Fatalf("security key login: %+v", r)
		}
	})
}

func TestAdminRequestsAPasskeyAtNextLogin(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		newUser(t, e, admin, "sam", nil)
		samID := lookupUserID(t, admin, "sam")
		admin.must(`mutation($id: ID!) { requestEnrollment(input: {userId: $id, factorType: "passkey"}) { request { factorType } } }`, map[string]any{"id": samID})
		c := e.client()
		p := loginStep(t, c, "sam", "sam-password-1")
		if p["status"] != "ENROLLMENT_REQUIRED" || jsonOf(p["allowedFactorTypes"]) != `["passkey"]` {
			t.Fatalf("login with a passkey request: %v", p)
		}
		ticket := p["ticket"].(string)
		d := c.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "passkey", "ticket": ticket}})
		cd, _ := json.Marshal(dig(d, "beginEnrollment", "clientData"))
		key := newAuthenticator(webauthntest.Options{})
		resp, err := key.register(cd)
		if err != nil {
			t.Fatal(err)
		}
		d = c.must(completeEnrollment, map[string]any{"in": map[string]any{"enrollmentId": dig(d, "beginEnrollment", "enrollmentId"), "ticket": ticket, "response": json.RawMessage(resp)}})
		if dig(d, "completeEnrollment", "status") != "AUTHENTICATED" || dig(d, "completeEnrollment", "enrollment", "factorType") != "passkey" {
			t.Fatalf("enrolling the requested passkey: %v", d)
		}
		// Next login: the passkey is the second factor, and the request is gone.
		if p := loginStep(t, e.client(), "sam", "sam-password-1"); p["status"] != "MFA_REQUIRED" || p["requestedFactorTypes"] != nil && len(p["requestedFactorTypes"].([]any)) != 0 {
			t.Fatalf("after enrolling: %v", p)
		}
	})
}

// A security key must be hardware: by default a self-attested, synced or
// unknown-vendor authenticator is refused with the reason, and nothing is
// enrolled. The test deployment trusts testVendor only through its
// attestation_roots setting.
func TestSecurityKeyMustBeHardware(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		uma, _ := newUser(t, e, admin, "uma", nil)
		untrusted, err := webauthntest.NewIssuer()
		if err != nil {
			t.Fatal(err)
		}
		key := func(o webauthntest.Options) *authenticator {
			o.AAGUID, o.UserNotVerified = listedKey, true
			return newAuthenticator(o)
		}
		tests := []struct {
			name   string
			device *authenticator
			detail string
		}{
			{"self attestation", key(webauthntest.Options{Attestation: webauthntest.AttestationSelf}),
				"the security key did not prove its model (it attested itself); use a security key from a known vendor"},
			{"no attestation", key(webauthntest.Options{Attestation: webauthntest.AttestationNone}),
				"the security key gave no attestation; use a key that supports direct attestation"},
			{"synced passkey", key(webauthntest.Options{Attestation: webauthntest.AttestationBasic, Issuer: testVendor, BackupEligible: true, BackupState: true}),
				"this authenticator's credentials can be copied to other devices (a synced passkey), not kept in a security key; use a hardware security key, or enrol it as a passkey"},
			{"unknown vendor", key(webauthntest.Options{Attestation: webauthntest.AttestationBasic, Issuer: untrusted}),
				"the security key's attestation certificate is not from a trusted vendor"},
		}
		for _, tc := range tests {
			_, r := enrolWebAuthn(t, uma, "hardwarekey", tc.device)
			if r.code() != "BAD_USER_INPUT" || reason(r) != "ATTESTATION_REFUSED" || r.Errors[0].Message != "this authenticator is not accepted: "+tc.detail {
				t.Fatalf("%s: %+v", tc.name, r.Errors)
			}
		}
		active := func() string {
			return jsonOf(uma.must(`{ myEnrollments { edges { node { factorType status } } } }`, nil))
		}
		if got := active(); strings.Contains(got, "ACTIVE") {
			t.Fatalf("a refused key was enrolled: %s", got)
		}
		// A key from the trusted vendor is accepted, and signs in.
		hw := newSecurityKey()
		enr, r := enrolWebAuthn(t, uma, "hardwarekey", hw)
		if enr == nil || enr["backupEligible"] != false {
			t.Fatalf("hardware key: %v %+v", enr, r.Errors)
		}
		c := e.client()
		p := loginStep(t, c, "uma", "uma-password-1")
		if _, r := assert(t, c, c, hw, p["ticket"].(string), enr["id"].(string)); dig(r.Data, "verifyFactor", "status") != "AUTHENTICATED" {
			t.Fatalf("security key login: %+v", r)
		}
	})
}

// A deployment that wants any verified attestation says so
// (TWOFOLD_HARDWAREKEY_ATTESTATION=any, the plugin's attestation setting):
// a server configured so enrols a self-attested, synced authenticator as a
// security key, which the default server refused.
func TestSecurityKeyAttestationAny(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		vic, _ := newUser(t, e, admin, "vic", nil)
		soft := newAuthenticator(webauthntest.Options{AAGUID: listedKey, UserNotVerified: true, BackupEligible: true, BackupState: true})
		if _, r := enrolWebAuthn(t, vic, "hardwarekey", soft); reason(r) != "ATTESTATION_REFUSED" {
			t.Fatalf("default policy: %+v", r)
		}
		// A copy: the running servers keep theirs (a restarted plugin reads them).
		e.cfg.PluginSettings = maps.Clone(e.cfg.PluginSettings)
		e.cfg.PluginSettings["hardwarekey"] = map[string]string{"rp_id": "localhost", "origins": webauthnOrigin, "attestation": "any"}
		permissive := *vic
		permissive.url = e.startServer().URL
		enr, r := enrolWebAuthn(t, &permissive, "hardwarekey", soft)
		if enr == nil || enr["backupEligible"] != true || enr["factorType"] != "hardwarekey" {
			t.Fatalf("attestation any: %v %+v", enr, r.Errors)
		}
	})
}
