package e2e

import (
	"strings"
	"testing"
)

const (
	subjRequired       = "Two-factor authentication is now required for your demo account"
	subjFactorRemoved  = "A second factor was removed from your account"
	subjMFAReset       = "Your two-factor authentication was reset"
	subjLocked         = "Your account was locked after too many failed attempts"
	subjUnlocked       = "Your account was unlocked"
	subjBrowserTrusted = "A new browser was trusted for your account"
)

// TestMailWhenMFABecomesRequired: a policy change mails the users it makes
// required, once per change (a user-type scope through a fan-out job, a
// single user at once), an admin's enrolment request mails the user, and
// an organization-wide switch-off mails no one.
func TestMailWhenMFABecomesRequired(t *testing.T) {
	eachMailDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		newManager(t, e, admin, "boss")
		_, nedID := newUser(t, e, admin, "ned", nil)
		newUser(t, e, admin, "kate", map[string]any{"userType": "staff"})
		newUser(t, e, admin, "liam", map[string]any{"userType": "staff"})
		_, miaID := newUser(t, e, admin, "mia", map[string]any{"userType": "supplier"})

		admin.must(`mutation($id: ID!) { requestEnrollment(input: {userId: $id, factorType: "totp"}) { request { factorType } } }`, map[string]any{"id": nedID})
		e.mailed("ned@example.com", subjRequired, 1)

		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "mode": "DISABLED"})
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userType": "staff"}, "mode": "REQUIRED"})
		for _, to := range []string{"kate@example.com", "liam@example.com"} {
			m := e.mailed(to, subjRequired, 1)[0]
			if !strings.Contains(m.Text(), "demo") {
				t.Fatalf("mail to %s: %s", to, m.Text())
			}
		}
		// A change of another field of the scope makes no one newly required.
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userType": "staff"}, "trustedBrowserDays": 7})
		// A single user: at once.
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userId": miaID}, "mode": "REQUIRED"})
		e.mailed("mia@example.com", subjRequired, 1)
		// Clearing the staff scope (back to the organization's DISABLED),
		// then requiring it again is a new change: a second mail.
		admin.must(`mutation { clearPolicy(input: {scope: {userType: "staff"}}) { ok } }`, nil)
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userType": "staff"}, "mode": "REQUIRED"})
		e.mailed("kate@example.com", subjRequired, 2)
		e.mailed("liam@example.com", subjRequired, 2)
		for to, want := range map[string]int{"kate@example.com": 2, "liam@example.com": 2, "mia@example.com": 1, "ned@example.com": 1, "boss@example.com": 0} {
			if n := e.countMailed(to, subjRequired); n != want {
				t.Fatalf("%s got %d 'required' mails, want %d", to, n, want)
			}
		}
	})
}

// TestMailOnAdminActions: removing one of a user's factors, resetting
// their MFA, and unlocking them mail the user, naming the admin; so does
// a lock after too many failed attempts.
func TestMailOnAdminActions(t *testing.T) {
	eachMailDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		olga, olgaID := newUser(t, e, admin, "olga", nil)
		_, first, _ := enrolTOTP(t, olga, nil)
		enrolTOTP(t, olga, map[string]any{"label": "tablet"})
		admin.must(`mutation($id: ID!) { removeUserEnrollment(input: {enrollmentId: $id}) { enrollmentId } }`, map[string]any{"id": first})
		m := e.mailed("olga@example.com", subjFactorRemoved, 1)[0]
		if !strings.Contains(m.Text(), "Administrator") || !strings.Contains(m.Text(), "phone") {
			t.Fatalf("factor removed mail names neither the admin nor the factor:\n%s", m.Text())
		}
		admin.must(`mutation($id: ID!) { resetUserMfa(input: {userId: $id}) { user { id } } }`, map[string]any{"id": olgaID})
		e.mailed("olga@example.com", subjMFAReset, 1)

		for range 5 {
			e.client().login("demo", "olga", "wrong-password-1")
		}
		if n := len(e.mailed("olga@example.com", subjLocked, 1)); n != 1 {
			t.Fatal(n)
		}
		admin.must(`mutation($id: ID!) { unlockUser(input: {userId: $id}) { user { id } } }`, map[string]any{"id": olgaID})
		e.mailed("olga@example.com", subjUnlocked, 1)
		if n := e.countMailed("olga@example.com", subjLocked); n != 1 {
			t.Fatalf("%d lock mails", n)
		}
	})
}

// TestMailOnUserEvents: a newly trusted browser and a password change mail
// the user; a user removing their last factor mails every organization
// manager, and a manager without an address is skipped and audited.
func TestMailOnUserEvents(t *testing.T) {
	eachMailDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		newManager(t, e, admin, "boss")
		newManager(t, e, admin, "chief")
		pete, _ := newUser(t, e, admin, "pete", nil)
		_, enr, codes := enrolTOTP(t, pete, nil)
		trustBrowserFor(t, e, "pete", "pete-password-1", &codes)
		m := e.mailed("pete@example.com", subjBrowserTrusted, 1)[0]
		if !strings.Contains(m.Text(), "127.0.0.1") {
			t.Fatalf("trusted browser mail lacks the address:\n%s", m.Text())
		}
		pete.must(`mutation { changePassword(input: {currentPassword: "pete-password-1", newPassword: "pete-password-2"}) { user { id } } }`, nil)
		e.mailed("pete@example.com", subjPasswordSet, 1)

		pete.must(`mutation($id: ID!) { removeEnrollment(input: {enrollmentId: $id}) { enrollmentId } }`, map[string]any{"id": enr})
		const off = "pete (pete) switched off two-factor authentication"
		e.mailed("boss@example.com", off, 1)
		e.mailed("chief@example.com", off, 1)
		if auditCount(t, admin, "notification.skipped", map[string]string{"event": "mfa.disabled_by_user", "reason": "no_email"}) != 1 {
			t.Fatal("the bootstrap admin's skipped mail is not audited")
		}
	})
}
