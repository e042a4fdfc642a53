package notify

import "github.com/twofoldauth/twofold/mfa"

// CommonVariables are in every event's data: mfa.notify sets username and
// display_name (the recipient's), the worker adds organization_name and
// public_url (TWOFOLD_PUBLIC_URL) when it renders.
var CommonVariables = []string{"username", "display_name", "organization_name", "public_url"}

// EventVariables lists, per event, the variables its templates may use
// besides CommonVariables. mfa puts exactly these keys in the event's
// data; a template naming any other variable is refused when it is set.
// The README's table is generated from the same list (keep them in step).
//
// Whoever adds a key here adds a line: "// flows: added X to EVENT".
var EventVariables = map[mfa.Event][]string{
	// reason: "policy" (an organization, company or user-type policy),
	// "user" (a per-user switch) or "enrollment_request" (an admin asked
	// for a factor).
	mfa.EventMFARequired: {"reason"},
	// user, user_display_name: the user who disabled MFA or removed their
	// last factor; reason: "disabled" or "last_factor_removed".
	mfa.EventMFADisabledByUser: {"user", "user_display_name", "reason"},
	// link: the single-use lost-device link; expires_in: e.g. "30 minutes".
	mfa.EventRecoveryLink: {"link", "expires_in"},
	// user, user_display_name: who recovered (managers get this too).
	mfa.EventRecoveryCompleted: {"user", "user_display_name"},
	// actor: the admin's display name (or username).
	mfa.EventMFAReset: {"actor"},
	// factor_type: e.g. totp; factor_label: the factor's name.
	mfa.EventFactorRemoved: {"actor", "factor_type", "factor_label"},
	mfa.EventUnlocked:      {"actor"},
	// until: when the lock ends (RFC 3339, UTC).
	mfa.EventLocked: {"until"},
	// browser: the user agent; ip: the client address; until: when the
	// trust ends (RFC 3339, UTC).
	mfa.EventBrowserTrusted: {"browser", "ip", "until"},
	// ip: the client address of the change.
	mfa.EventPasswordChanged: {"ip"},
	// link: the single-use password-reset link; expires_in: e.g. "30 minutes".
	mfa.EventPasswordResetLink: {"link", "expires_in"},
	// link: the single-use link that sets the first admin's password;
	// expires_in: e.g. "3 days".
	mfa.EventAccountActivation: {"link", "expires_in"},
	// threshold: 80 or 100 (percent); used, seats, available: seat counts.
	mfa.EventLicenseUsage: {"threshold", "used", "seats", "available"},
	// subject, text: what a factor plugin asked to send to the user it
	// serves (an email one-time code); factor_type: the plugin's factor,
	// e.g. emailotp. flows: added factor.message (plugin host services).
	mfa.EventFactorMessage: {"subject", "text", "factor_type"},
	// deadline: when the enrolment grace ends (RFC 3339, UTC); days_left:
	// whole days until then. flows: added mfa.enrolment_reminder (grace
	// periods).
	mfa.EventEnrollmentReminder: {"deadline", "days_left"},
}

// sampleData is what previews render with.
var sampleData = map[string]string{
	"username": "jdoe", "display_name": "Jane Doe", "organization_name": "Example Corp", "public_url": "https://mfa.example.com",
	"reason": "policy", "user": "rsmith", "user_display_name": "Robert Smith", "link": "https://mfa.example.com/demo#recover=SAMPLE-TOKEN",
	"expires_in": "30 minutes", "actor": "Alice Admin", "factor_type": "totp", "factor_label": "Phone",
	"until": "2030-01-01T12:00:00Z", "browser": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", "ip": "203.0.113.7",
	"threshold": "80", "used": "40", "seats": "50", "available": "10",
	"subject": "Your sign-in code", "text": "Your code is 123456. It expires in 5 minutes.",
	"deadline": "2030-01-01T12:00:00Z", "days_left": "7",
}

// variables is every variable ev's templates may use; ok is false for an
// unknown event.
func variables(ev mfa.Event) ([]string, bool) {
	vs, ok := EventVariables[ev]
	if !ok {
		return nil, false
	}
	return append(append([]string(nil), CommonVariables...), vs...), true
}
