package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRequiredPolicyAppliesAtNextLoginAndEnrolmentFinishesIt(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		live, _ := newUser(t, e, admin, "frank", nil)
		newUser(t, e, admin, "gina", nil)
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "mode": "REQUIRED"})
		// A live session is untouched.
		if dig(live.must(`{ viewer { username } }`, nil), "viewer", "username") != "frank" {
			t.Fatal("a policy change ended a live session")
		}
		// The next login must enrol, and cannot finish otherwise.
		c := e.client()
		p := loginStep(t, c, "frank", "frank-password-1")
		if p["status"] != "ENROLLMENT_REQUIRED" || p["token"] != nil {
			t.Fatalf("login under REQUIRED: %v", p)
		}
		ticket := p["ticket"].(string)
		if r := verify(c, ticket, "", map[string]any{"recoveryCode": "aaaa-bbbb-cccc-dddd"}, false); r.code() != "UNAUTHENTICATED" || reason(r) != "INVALID_TICKET" {
			t.Fatalf("an enrolment ticket on verifyFactor: %+v", r)
		}
		if r := c.post(`{ myEnrollments { edges { node { id } } } }`, nil); r.code() != "UNAUTHENTICATED" {
			t.Fatalf("enrolment ticket acted as a session: %+v", r)
		}
		d := c.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp", "ticket": ticket}})
		app := newTOTPApp(t, dig(d, "beginEnrollment", "clientData", "secret").(string))
		d = c.must(completeEnrollment, map[string]any{"in": map[string]any{
			"enrollmentId": dig(d, "beginEnrollment", "enrollmentId"), "ticket": ticket, "response": map[string]any{"code": app.next()}}})
		if dig(d, "completeEnrollment", "status") != "AUTHENTICATED" || dig(d, "completeEnrollment", "token") == nil {
			t.Fatalf("completing the enrolment did not finish the login: %v", d)
		}
		if n := len(dig(d, "completeEnrollment", "recoveryCodes").([]any)); n != 10 {
			t.Fatalf("recovery codes: %d", n)
		}
		if dig(c.must(`{ viewer { username } }`, nil), "viewer", "username") != "frank" {
			t.Fatal("no session cookie after enrolment during login")
		}
		// Next time: the factor.
		if p := loginStep(t, e.client(), "frank", "frank-password-1"); p["status"] != "MFA_REQUIRED" {
			t.Fatalf("after enrolling: %v", p)
		}

		// Turning REQUIRED off stops asking those who never enrolled and keeps
		// the others' factors.
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "mode": "OPTIONAL"})
		if p := loginStep(t, e.client(), "gina", "gina-password-1"); p["status"] != "AUTHENTICATED" {
			t.Fatalf("unenrolled user after REQUIRED off: %v", p)
		}
		if p := loginStep(t, e.client(), "frank", "frank-password-1"); p["status"] != "MFA_REQUIRED" {
			t.Fatalf("enrolled user after REQUIRED off: %v", p)
		}
	})
}

func TestEnforcementDateAndCompanyCaseManagers(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		company := dig(admin.must(`mutation { createCompany(input: {name: "Acme Legal"}) { company { id } } }`, nil), "createCompany", "company", "id")
		newUser(t, e, admin, "cm", map[string]any{"companyId": company, "userType": "case_manager"})
		newUser(t, e, admin, "clerk", map[string]any{"companyId": company, "userType": "clerk"})
		from := e.clock.Now().Add(7 * 24 * time.Hour).UTC().Format(time.RFC3339)
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"companyId": company, "userType": "case_manager"}, "mode": "REQUIRED", "enforceFrom": from})
		p := loginStep(t, e.client(), "cm", "cm-password-1")
		if p["status"] != "AUTHENTICATED" || p["enforceFrom"] == nil {
			t.Fatalf("before enforcement: %v", p)
		}
		e.clock.Advance(7*24*time.Hour + time.Minute)
		if p := loginStep(t, e.client(), "cm", "cm-password-1"); p["status"] != "ENROLLMENT_REQUIRED" {
			t.Fatalf("after enforcement: %v", p)
		}
		if p := loginStep(t, e.client(), "clerk", "clerk-password-1"); p["status"] != "AUTHENTICATED" {
			t.Fatalf("another user type of the company: %v", p)
		}
		admin = e.admin() // the old session idled out over the week
		cmID := lookupUserID(t, admin, "cm")
		eff := admin.must(`query($id: ID!) { effectivePolicy(userId: $id) { mode modeSource enforced trustedBrowserDays trustedBrowserDaysSource } }`, map[string]any{"id": cmID})
		if got := jsonOf(eff["effectivePolicy"]); got != `{"enforced":true,"mode":"REQUIRED","modeSource":"COMPANY_USER_TYPE","trustedBrowserDays":180,"trustedBrowserDaysSource":"DEFAULT"}` {
			t.Fatalf("effective policy: %s", got)
		}
	})
}

func TestDisabledUserTypeAndSingleUserSwitch(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		sup, _ := newUser(t, e, admin, "sup", map[string]any{"userType": "supplier"})
		app, eid, _ := enrolTOTP(t, sup, nil)
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userType": "supplier"}, "mode": "DISABLED"})
		if p := loginStep(t, e.client(), "sup", "sup-password-1"); p["status"] != "AUTHENTICATED" {
			t.Fatalf("barred type still asked: %v", p)
		}
		if r := sup.post(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp"}}); r.code() != "FORBIDDEN" {
			t.Fatalf("enrolment offered to a barred type: %+v", r)
		}
		// Re-enabled: the dormant factor is back.
		admin.must(`mutation { clearPolicy(input: {scope: {userType: "supplier"}}) { ok } }`, nil)
		e.loginAs2FA(t, "sup", app, eid)

		// A single user's MFA switched off removes their factors, once confirmed.
		supID := lookupUserID(t, admin, "sup")
		off := map[string]any{"scope": map[string]any{"userId": supID}, "mode": "DISABLED"}
		r := admin.post(`mutation($in: SetPolicyInput!) { setPolicy(input: $in) { policy { id } } }`, map[string]any{"in": off})
		if r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != "confirmRemoveFactors" {
			t.Fatalf("unconfirmed switch-off: %+v", r)
		}
		if n := len(nodes(admin.must(`query($id: ID!) { userEnrollments(userId: $id) { edges { node { id } } } }`, map[string]any{"id": supID}), "userEnrollments")); n != 1 {
			t.Fatalf("refused switch-off changed factors: %d", n)
		}
		off["confirmRemoveFactors"] = true
		e.setPolicy(admin, off)
		if n := len(nodes(admin.must(`query($id: ID!) { userEnrollments(userId: $id) { edges { node { id } } } }`, map[string]any{"id": supID}), "userEnrollments")); n != 0 {
			t.Fatalf("factors left after switch-off: %d", n)
		}
		// Switched on: enrol at next login.
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userId": supID}, "mode": "REQUIRED"})
		if p := loginStep(t, e.client(), "sup", "sup-password-1"); p["status"] != "ENROLLMENT_REQUIRED" {
			t.Fatalf("after switching on: %v", p)
		}
		// A user manager may set user scope only.
		hd, _ := newUser(t, e, admin, "helpdesk", map[string]any{"permissions": []string{"MANAGE_USERS"}})
		if r := hd.post(`mutation { setPolicy(input: {scope: {}, mode: REQUIRED}) { policy { id } } }`, nil); r.code() != "FORBIDDEN" {
			t.Fatalf("user manager set the org policy: %+v", r)
		}
		hd.must(`mutation($id: ID!) { setPolicy(input: {scope: {userId: $id}, mode: OPTIONAL}) { policy { id } } }`, map[string]any{"id": supID})
	})
}

func TestTrustedBrowsers(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		hal, _ := newUser(t, e, admin, "hal", nil)
		app, eid, codes := enrolTOTP(t, hal, nil)
		// Trust is granted by any second factor; recovery codes let this test
		// log in more often than one TOTP secret has fresh steps.
		trust := func() (string, *client) {
			c := e.client()
			p := loginStep(t, c, "hal", "hal-password-1")
			if p["trustBrowserOffered"] != true {
				t.Fatalf("trust not offered: %v", p)
			}
			code := codes[0]
			codes = codes[1:]
			r := verify(c, p["ticket"].(string), "", map[string]any{"recoveryCode": code}, true)
			tok, _ := dig(r.Data, "verifyFactor", "trustedBrowserToken").(string)
			if tok == "" {
				t.Fatalf("no trusted browser token: %+v", r)
			}
			return tok, c
		}
		tok, browser := trust()
		loginWith := func(c *client, token string) string {
			r := c.post(loginWithFactors, map[string]any{"o": "demo", "u": "hal", "p": "hal-password-1", "tb": token})
			return dig(r.Data, "login", "status").(string)
		}
		if s := loginWith(e.client(), tok); s != "AUTHENTICATED" {
			t.Fatalf("trusted token: %s", s)
		}
		// The browser's cookie works without passing the token.
		if s := loginWith(browser, ""); s != "AUTHENTICATED" {
			t.Fatalf("trusted cookie: %s", s)
		}
		if s := loginWith(e.client(), "not-a-token"); s != "MFA_REQUIRED" {
			t.Fatalf("bogus token: %s", s)
		}
		// Another user cannot use hal's token.
		newUser(t, e, admin, "ivy", nil)
		ivy := e.loginAs("ivy", "ivy-password-1")
		_, ivyEID, _ := enrolTOTP(t, ivy, nil)
		_ = ivyEID
		r := e.client().post(loginWithFactors, map[string]any{"o": "demo", "u": "ivy", "p": "ivy-password-1", "tb": tok})
		if dig(r.Data, "login", "status") != "MFA_REQUIRED" {
			t.Fatal("a trusted browser token worked for another user")
		}
		// Expiry after 180 days.
		e.clock.Advance(181 * 24 * time.Hour)
		if s := loginWith(e.client(), tok); s != "MFA_REQUIRED" {
			t.Fatalf("after 181 days: %s", s)
		}
		// Shortening the policy shortens existing ones.
		admin = e.admin()
		tok, _ = trust()
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "trustedBrowserDays": 1})
		e.clock.Advance(2 * 24 * time.Hour)
		if s := loginWith(e.client(), tok); s != "MFA_REQUIRED" {
			t.Fatalf("after the policy shortened trust: %s", s)
		}
		admin = e.admin()
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "trustedBrowserDays": 180})
		// Revocation by the user, one and all.
		tok, _ = trust()
		hal = e.loginAs2FA(t, "hal", app, eid)
		list := hal.must(`{ myTrustedBrowsers { id expiresAt } }`, nil)["myTrustedBrowsers"].([]any)
		if len(list) == 0 {
			t.Fatal("no trusted browsers listed")
		}
		hal.must(`mutation($id: ID!) { revokeTrustedBrowser(input: {trustedBrowserId: $id}) { ok } }`, map[string]any{"id": dig(list[0], "id")})
		if s := loginWith(e.client(), tok); s != "MFA_REQUIRED" {
			t.Fatalf("after revoking: %s", s)
		}
		tok, _ = trust()
		hal.must(`mutation { revokeAllTrustedBrowsers { ok } }`, nil)
		if s := loginWith(e.client(), tok); s != "MFA_REQUIRED" {
			t.Fatalf("after revoking all: %s", s)
		}
		// Admin revocation, and password change revokes.
		tok, _ = trust()
		halID := lookupUserID(t, admin, "hal")
		admin.must(`mutation($id: ID) { revokeAllTrustedBrowsers(input: {userId: $id}) { ok } }`, map[string]any{"id": halID})
		if s := loginWith(e.client(), tok); s != "MFA_REQUIRED" {
			t.Fatalf("after admin revoke: %s", s)
		}
		tok, _ = trust()
		hal.must(`mutation { changePassword(input: {currentPassword: "hal-password-1", newPassword: "hal-password-1"}) { user { id } } }`, nil)
		r = e.client().post(loginWithFactors, map[string]any{"o": "demo", "u": "hal", "p": "hal-password-1", "tb": tok})
		if dig(r.Data, "login", "status") != "MFA_REQUIRED" {
			t.Fatal("password change did not revoke trusted browsers")
		}
		// trustedBrowserDays 0: no trust offered or granted.
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "trustedBrowserDays": 0})
		c := e.client()
		p := loginStep(t, c, "hal", "hal-password-1")
		r = verify(c, p["ticket"].(string), eid, map[string]any{"code": app.next()}, true)
		if p["trustBrowserOffered"] != false || dig(r.Data, "verifyFactor", "trustedBrowserToken") != nil {
			t.Fatalf("trust with 0 days: offered %v, token %v", p["trustBrowserOffered"], dig(r.Data, "verifyFactor", "trustedBrowserToken"))
		}
	})
}

func TestLockoutCountsParallelFailuresOnTwoServers(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		newUser(t, e, admin, "jay", nil)
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "maxFailedAttempts": 9, "lockoutMinutes": 30})
		second := e.startServer()
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				c := e.client()
				if i%2 == 1 {
					c = e.clientOf(second)
				}
				c.login("demo", "jay", fmt.Sprintf("wrong-password-%d", i))
			})
		}
		wg.Wait()
		// Eight counted exactly: the ninth locks, not the tenth.
		if p, _ := e.client().login("demo", "jay", "wrong-password-9"); p["status"] != "LOCKED" {
			t.Fatalf("9th failure after 8 parallel ones: %v (lost updates?)", p)
		}
		e.clock.Advance(29 * time.Minute)
		if p, _ := e.client().login("demo", "jay", "jay-password-1"); p["status"] != "LOCKED" {
			t.Fatal("policy lockout minutes not honoured")
		}
		e.clock.Advance(2 * time.Minute)
		if p, _ := e.client().login("demo", "jay", "jay-password-1"); p["status"] != "AUTHENTICATED" {
			t.Fatal("not released after the policy's period")
		}
	})
}

func TestFactorManagementSelfServiceAndAdmin(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		kim, _ := newUser(t, e, admin, "kim", nil)
		_, first, _ := enrolTOTP(t, kim, map[string]any{"label": "phone"})
		_, second, codes := enrolTOTP(t, kim, map[string]any{"label": "tablet"})
		if codes != nil {
			t.Fatal("recovery codes reissued for a second factor")
		}
		lee, _ := newUser(t, e, admin, "lee", nil)
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "mode": "REQUIRED"})
		remove := `mutation($id: ID!) { removeEnrollment(input: {enrollmentId: $id}) { enrollmentId } }`
		kim.must(remove, map[string]any{"id": first})
		r := kim.post(remove, map[string]any{"id": second})
		if r.code() != "FORBIDDEN" || !strings.Contains(r.Errors[0].Message, "requires") {
			t.Fatalf("last factor removal under REQUIRED: %+v", r)
		}
		// Another user cannot touch kim's factor.
		if r := lee.post(remove, map[string]any{"id": second}); r.code() != "NOT_FOUND" {
			t.Fatalf("foreign removal: %+v", r)
		}
		// An admin can, and can reset everything.
		kimID := lookupUserID(t, admin, "kim")
		admin.must(`mutation($id: ID!) { resetUserMfa(input: {userId: $id}) { user { id } } }`, map[string]any{"id": kimID})
		d := admin.must(`query($id: ID!) { user(id: $id) { mfaEnrolled recoveryCodesLeft factorTypes } }`, map[string]any{"id": kimID})
		if jsonOf(d["user"]) != `{"factorTypes":[],"mfaEnrolled":false,"recoveryCodesLeft":0}` {
			t.Fatalf("after reset: %s", jsonOf(d["user"]))
		}
		if p := loginStep(t, e.client(), "kim", "kim-password-1"); p["status"] != "ENROLLMENT_REQUIRED" {
			t.Fatalf("after reset under REQUIRED: %v", p)
		}
		// Admin enrols on the user's behalf (holding their device).
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "mode": "OPTIONAL"})
		d = admin.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp", "userId": kimID, "label": "desk token"}})
		app := newTOTPApp(t, dig(d, "beginEnrollment", "clientData", "secret").(string))
		admin.must(completeEnrollment, map[string]any{"in": map[string]any{"enrollmentId": dig(d, "beginEnrollment", "enrollmentId"), "response": map[string]any{"code": app.next()}}})
		list := nodes(admin.must(`query($id: ID!) { userEnrollments(userId: $id) { edges { node { id label } } } }`, map[string]any{"id": kimID}), "userEnrollments")
		if len(list) != 1 || dig(list[0], "label") != "desk token" {
			t.Fatalf("admin-enrolled factor: %v", list)
		}
		admin.must(`mutation($id: ID!) { removeUserEnrollment(input: {enrollmentId: $id}) { enrollmentId } }`, map[string]any{"id": dig(list[0], "id")})
	})
}

func TestEnrollmentRequests(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		newUser(t, e, admin, "max", nil)
		maxID := lookupUserID(t, admin, "max")
		req := `mutation($id: ID!) { requestEnrollment(input: {userId: $id, factorType: "totp"}) { request { factorType } } }`
		admin.must(req, map[string]any{"id": maxID})
		if r := admin.post(req, map[string]any{"id": maxID}); r.code() != "CONFLICT" {
			t.Fatalf("duplicate request: %+v", r)
		}
		c := e.client()
		p := loginStep(t, c, "max", "max-password-1")
		if p["status"] != "ENROLLMENT_REQUIRED" || jsonOf(p["requestedFactorTypes"]) != `["totp"]` || jsonOf(p["allowedFactorTypes"]) != `["totp"]` {
			t.Fatalf("login with a request: %v", p)
		}
		enrolTOTP(t, c, map[string]any{"ticket": p["ticket"]})
		d := admin.must(`query($id: ID!) { user(id: $id) { enrollmentRequests { factorType } } }`, map[string]any{"id": maxID})
		if n := len(dig(d, "user", "enrollmentRequests").([]any)); n != 0 {
			t.Fatalf("request not fulfilled by enrolling: %v", d)
		}
		// Cancel.
		newUser(t, e, admin, "ned", nil)
		nedID := lookupUserID(t, admin, "ned")
		admin.must(req, map[string]any{"id": nedID})
		admin.must(`mutation($id: ID!) { cancelEnrollmentRequest(input: {userId: $id, factorType: "totp"}) { ok } }`, map[string]any{"id": nedID})
		if p := loginStep(t, e.client(), "ned", "ned-password-1"); p["status"] != "AUTHENTICATED" {
			t.Fatalf("after cancel: %v", p)
		}
	})
}

func TestAdminViewsStatsAndAudit(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		company := dig(admin.must(`mutation { createCompany(input: {name: "Globex"}) { company { id } } }`, nil), "createCompany", "company", "id")
		a, _ := newUser(t, e, admin, "olga", map[string]any{"userType": "case_manager", "companyId": company, "displayName": "Olga Globex"})
		enrolTOTP(t, a, nil)
		newUser(t, e, admin, "pete", map[string]any{"userType": "case_manager"})
		newUser(t, e, admin, "quin", map[string]any{"userType": "supplier"})
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userType": "case_manager"}, "mode": "REQUIRED"})

		stats := admin.must(`{ mfaStats { userType users required enrolled pending } }`, nil)["mfaStats"]
		want := `[{"enrolled":0,"pending":0,"required":0,"userType":"","users":1},{"enrolled":1,"pending":1,"required":2,"userType":"case_manager","users":2},{"enrolled":0,"pending":0,"required":0,"userType":"supplier","users":1}]`
		if got := jsonOf(stats); got != want {
			t.Fatalf("mfaStats:\n got %s\nwant %s", got, want)
		}
		q := `query($f: UserFilter, $o: UserOrder) { users(filter: $f, orderBy: $o) { totalCount edges { node { username mfaEnrolled mfaRequired factorTypes } } } }`
		names := func(d map[string]any) string {
			var out []string
			for _, e := range dig(d, "users", "edges").([]any) {
				out = append(out, dig(e, "node", "username").(string))
			}
			return strings.Join(out, ",")
		}
		for name, tc := range map[string]struct {
			vars map[string]any
			want string
		}{
			"enrolled":     {map[string]any{"f": map[string]any{"mfaEnrolled": true}}, "olga"},
			"not enrolled": {map[string]any{"f": map[string]any{"mfaEnrolled": false}}, "admin,pete,quin"},
			"required":     {map[string]any{"f": map[string]any{"mfaRequired": true}}, "olga,pete"},
			"factor type":  {map[string]any{"f": map[string]any{"factorType": "totp"}}, "olga"},
			"by required":  {map[string]any{"o": map[string]any{"field": "MFA_REQUIRED", "direction": "DESC"}}, "olga,pete,admin,quin"},
			"by enrolled":  {map[string]any{"o": map[string]any{"field": "MFA_ENROLLED", "direction": "DESC"}}, "olga,quin,pete,admin"},
		} {
			if got := names(admin.must(q, tc.vars)); got != tc.want {
				t.Errorf("%s: %s, want %s", name, got, tc.want)
			}
		}
		d := admin.must(`{ enrolledUsers(filter: {search: "globex"}) { totalCount edges { node { username factorTypes } } } }`, nil)
		if jsonOf(dig(d, "enrolledUsers", "edges")) != `[{"node":{"factorTypes":["totp"],"username":"olga"}}]` {
			t.Fatalf("enrolledUsers: %s", jsonOf(d))
		}
		events := jsonOf(admin.must(`{ auditEvents(first: 100) { edges { node { action ip actor { username } subject { username } } } } }`, nil))
		for _, action := range []string{"policy.changed", "factor.enrolled", "recovery_codes.issued", "user.created", "login.succeeded"} {
			if !strings.Contains(events, `"action":"`+action+`"`) {
				t.Errorf("audit lacks %s", action)
			}
		}
		if !strings.Contains(events, `"ip":"127.0.0.1"`) {
			t.Error("audit lacks the client IP")
		}
		// Audit is VIEW_AUDIT only.
		if r := a.post(`{ auditEvents { totalCount } }`, nil); r.code() != "FORBIDDEN" {
			t.Fatalf("audit for a plain user: %+v", r)
		}
	})
}

func TestBadFactorAndPolicyInputChangesNothing(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		uma, _ := newUser(t, e, admin, "uma", nil)
		for name, tc := range map[string]struct {
			c     *client
			query string
			vars  map[string]any
			want  string // default BAD_USER_INPUT
		}{
			"unknown factor type":      {uma, beginEnrollment, map[string]any{"in": map[string]any{"factorType": "carrier-pigeon"}}, ""},
			"label too long":           {uma, beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp", "label": strings.Repeat("l", 65)}}, ""},
			"malformed enrollment id":  {uma, completeEnrollment, map[string]any{"in": map[string]any{"enrollmentId": "1 OR 1=1", "response": map[string]any{"code": "123456"}}}, ""},
			"policy attempts zero":     {admin, `mutation { setPolicy(input: {scope: {}, maxFailedAttempts: 0}) { policy { id } } }`, nil, ""},
			"policy trust days":        {admin, `mutation { setPolicy(input: {scope: {}, trustedBrowserDays: 5000}) { policy { id } } }`, nil, ""},
			"policy unknown factor":    {admin, `mutation { setPolicy(input: {scope: {}, allowedFactorTypes: ["sms"]}) { policy { id } } }`, nil, ""},
			"policy user and company":  {admin, `mutation { setPolicy(input: {scope: {userId: "0190d6f4-3b0a-7cc1-9a57-000000000000", userType: "x"}, mode: REQUIRED}) { policy { id } } }`, nil, ""},
			"policy bad mode":          {admin, `mutation { setPolicy(input: {scope: {}, mode: SOMETIMES}) { policy { id } } }`, nil, ""},
			"verify with bad ticket":   {e.client(), verifyFactor, map[string]any{"in": map[string]any{"ticket": strings.Repeat("x", 500), "response": map[string]any{"code": "1"}}}, "UNAUTHENTICATED"},
			"passkey login no org":     {e.client(), `mutation { beginPasskeyLogin(input: {organization: ""}) { ticket } }`, nil, ""},
			"revoke malformed browser": {uma, `mutation { revokeTrustedBrowser(input: {trustedBrowserId: "nope"}) { ok } }`, nil, ""},
			"request unknown factor":   {admin, `mutation($id: ID!) { requestEnrollment(input: {userId: $id, factorType: "sms"}) { request { factorType } } }`, map[string]any{"id": lookupUserID(t, admin, "uma")}, ""},
		} {
			want := tc.want
			if want == "" {
				want = "BAD_USER_INPUT"
			}
			if r := tc.c.post(tc.query, tc.vars); r.code() != want {
				t.Errorf("%s: code %q, want %s (%+v)", name, r.code(), want, r.Errors)
			}
		}
		if n := len(nodes(admin.must(`{ policies { edges { node { id } } } }`, nil), "policies")); n != 0 {
			t.Fatalf("refused policy changes left %d policies", n)
		}
		if n := len(nodes(uma.must(`{ myEnrollments { edges { node { id } } } }`, nil), "myEnrollments")); n != 0 {
			t.Fatalf("refused enrolments left %d factors", n)
		}
	})
}
