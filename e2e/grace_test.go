package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/server"
)

const (
	graceLogin = `mutation($o: String!, $u: String!, $p: String!) {
  login(input: {organization: $o, username: $u, password: $p}) { status ticket token canSkip skipsLeft deadline mfaSkippedReason } }`
	skipEnrollmentMut = `mutation($t: String!) { skipEnrollment(input: {ticket: $t}) { status token mfaSkippedReason user { username } } }`
	graceUsersQuery   = `query($f: UserFilter) { users(filter: $f, first: 100) { totalCount edges { node { username mfaDeadline skipsLeft } } } }`
	skippedAudit      = `query($id: ID) { auditEvents(filter: {userId: $id, action: "login.enrollment_skipped"}) { totalCount edges { node { details } } } }`
	subjReminder7     = "Set up two-factor authentication for demo within 7 day(s)"
	subjReminder1     = "Set up two-factor authentication for demo within 1 day(s)"
)

func graceLoginAs(t *testing.T, e *env, user string) map[string]any {
	t.Helper()
	return e.client().must(graceLogin, map[string]any{"o": "demo", "u": user, "p": user + "-password-1"})["login"].(map[string]any)
}

// graceUsers maps username to {mfaDeadline, skipsLeft} for a filter.
func graceUsers(t *testing.T, admin *client, filter map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, n := range nodes(admin.must(graceUsersQuery, map[string]any{"f": filter}), "users") {
		m := n.(map[string]any)
		out[m["username"].(string)] = m
	}
	return out
}

func skippedCount(t *testing.T, admin *client, id string) float64 {
	t.Helper()
	return dig(admin.must(skippedAudit, map[string]any{"id": id}), "auditEvents", "totalCount").(float64)
}

// reminderServer is one more server instance on the env's database, for
// calling its reminder job directly.
func reminderServer(t *testing.T, e *env) *server.Server {
	t.Helper()
	s, err := server.New(context.Background(), e.cfg, server.WithMFAOptions(mfa.WithClock(e.clock)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestEnrollmentGraceSkipsDeadlineAndReminders: a user-type scope gives
// users who must enrol 10 days and 2 skips, counted from each user's first
// login that found them required. The login says canSkip, skipsLeft and
// deadline; skipEnrollment finishes it with the password alone (audited,
// single use); two parallel skips cannot both use the last one; without
// skips or past the deadline the skip is refused with its reason and
// changes nothing; admins see each user's deadline and skips and filter
// the overdue; reminders go out 7 and 1 days before the deadline, once
// each, even with two servers running the job at once, and not while MFA
// is switched off; an admin's enrolment request has no grace.
func TestEnrollmentGraceSkipsDeadlineAndReminders(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		ids := map[string]string{}
		for _, n := range []string{"cm1", "cm2", "cm3", "staff1"} {
			in := map[string]any{"username": n, "email": n + "@example.com", "password": n + "-password-1", "userType": "case_manager"}
			if n == "staff1" {
				in["userType"] = "staff"
			}
			ids[n] = e.createUser(admin, in)
		}
		// Out-of-range grace settings are refused and change nothing.
		for field, v := range map[string]any{"gracePeriodDays": -1, "maxEnrollmentSkips": 101, "enrollmentReminderDays": []int{0}} {
			r := admin.post(`mutation($in: SetPolicyInput!) { setPolicy(input: $in) { policy { id } } }`,
				map[string]any{"in": map[string]any{"scope": map[string]any{"userType": "case_manager"}, "mode": "REQUIRED", field: v}})
			wantError(t, field, r, "BAD_USER_INPUT", "")
			if f, _ := r.Errors[0].Extensions["field"].(string); f != field {
				t.Fatalf("%s refused on field %q", field, f)
			}
		}
		if d := admin.must(`{ policies { totalCount } }`, nil); dig(d, "policies", "totalCount") != float64(0) {
			t.Fatalf("a refused policy was stored: %v", d)
		}
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userType": "case_manager"}, "mode": "REQUIRED",
			"gracePeriodDays": 10, "maxEnrollmentSkips": 2, "enrollmentReminderDays": []int{7, 1}})
		ep := admin.must(`query($id: ID!) { effectivePolicy(userId: $id) { gracePeriodDays gracePeriodDaysSource maxEnrollmentSkips enrollmentReminderDays } }`, map[string]any{"id": ids["cm1"]})
		if jsonOf(ep) != `{"effectivePolicy":{"enrollmentReminderDays":[7,1],"gracePeriodDays":10,"gracePeriodDaysSource":"USER_TYPE","maxEnrollmentSkips":2}}` {
			t.Fatalf("effective grace: %s", jsonOf(ep))
		}

		// cm1's first required login starts the clock.
		t0 := e.clock.Now()
		p := graceLoginAs(t, e, "cm1")
		wantDeadline := t0.Add(10 * 24 * time.Hour).Format(time.RFC3339Nano)
		if p["status"] != "ENROLLMENT_REQUIRED" || p["canSkip"] != true || p["skipsLeft"] != float64(2) || !sameTime(p["deadline"], wantDeadline) {
			t.Fatalf("cm1 first login: %v (want deadline %s)", p, wantDeadline)
		}
		s := e.client().must(skipEnrollmentMut, map[string]any{"t": p["ticket"]})["skipEnrollment"].(map[string]any)
		if s["status"] != "AUTHENTICATED" || s["token"] == nil || s["mfaSkippedReason"] != mfa.ReasonEnrollmentSkipped || dig(s, "user", "username") != "cm1" {
			t.Fatalf("skip: %v", s)
		}
		// The ticket is single-use.
		wantError(t, "skip twice", e.client().post(skipEnrollmentMut, map[string]any{"t": p["ticket"]}), "UNAUTHENTICATED", "INVALID_TICKET")
		if n := skippedCount(t, admin, ids["cm1"]); n != 1 {
			t.Fatalf("skips audited: %v", n)
		}
		// An hour later the deadline has not moved: it counts from the first login.
		e.clock.Advance(time.Hour)
		admin = e.admin()
		us := graceUsers(t, admin, map[string]any{"userType": "case_manager"})
		if us["cm1"]["skipsLeft"] != float64(1) || !sameTime(us["cm1"]["mfaDeadline"], wantDeadline) || us["cm2"]["mfaDeadline"] != nil || us["cm2"]["skipsLeft"] != nil {
			t.Fatalf("admin view: %v", us)
		}

		// Two logins, two tickets, one skip left: two parallel skips use it once.
		t1, t2 := graceLoginAs(t, e, "cm1")["ticket"], graceLoginAs(t, e, "cm1")["ticket"]
		var wg sync.WaitGroup
		rs := make([]response, 2)
		for i, tk := range []any{t1, t2} {
			wg.Add(1)
			go func(i int, tk any) {
				defer wg.Done()
				rs[i] = e.client().post(skipEnrollmentMut, map[string]any{"t": tk})
			}(i, tk)
		}
		wg.Wait()
		okN := 0
		for _, r := range rs {
			switch {
			case len(r.Errors) == 0:
				okN++
			default:
				wantError(t, "parallel skip", r, "FORBIDDEN", "NO_SKIPS_LEFT")
			}
		}
		if okN != 1 || skippedCount(t, admin, ids["cm1"]) != 2 {
			t.Fatalf("parallel skips: %d succeeded, %v audited", okN, skippedCount(t, admin, ids["cm1"]))
		}
		p = graceLoginAs(t, e, "cm1")
		if p["status"] != "ENROLLMENT_REQUIRED" || p["canSkip"] != false || p["skipsLeft"] != float64(0) {
			t.Fatalf("cm1 without skips: %v", p)
		}
		wantError(t, "skip without skips", e.client().post(skipEnrollmentMut, map[string]any{"t": p["ticket"]}), "FORBIDDEN", "NO_SKIPS_LEFT")
		if skippedCount(t, admin, ids["cm1"]) != 2 {
			t.Fatal("a refused skip was audited")
		}
		// The refused skip left the ticket usable for enrolment.
		enrolTOTP(t, e.client(), map[string]any{"ticket": p["ticket"]})

		// A deadline alone: no limit on skips.
		e.setPolicy(admin, map[string]any{"scope": map[string]any{"userType": "case_manager"}, "maxEnrollmentSkips": nil})
		t2start := e.clock.Now()
		p = graceLoginAs(t, e, "cm2")
		deadline2 := t2start.Add(10 * 24 * time.Hour)
		if p["canSkip"] != true || p["skipsLeft"] != nil || !sameTime(p["deadline"], deadline2.Format(time.RFC3339Nano)) {
			t.Fatalf("cm2 deadline only: %v", p)
		}
		for range 3 {
			e.client().must(skipEnrollmentMut, map[string]any{"t": graceLoginAs(t, e, "cm2")["ticket"]})
		}

		// Reminders: none 8 days before, the 7-day one once, then the 1-day one once.
		srvA, srvB := reminderServer(t, e), reminderServer(t, e)
		remind := func() int {
			t.Helper()
			var wg sync.WaitGroup
			ns := make([]int, 2)
			for i, s := range []*server.Server{srvA, srvB} {
				wg.Add(1)
				go func(i int, s *server.Server) {
					defer wg.Done()
					n, err := s.Service().SendEnrollmentReminders(context.Background())
					if err != nil {
						t.Errorf("reminders: %v", err)
					}
					ns[i] = n
				}(i, s)
			}
			wg.Wait()
			return ns[0] + ns[1]
		}
		e.clock.Advance(deadline2.Sub(e.clock.Now()) - 8*24*time.Hour)
		if n := remind(); n != 0 {
			t.Fatalf("%d reminders 8 days before", n)
		}
		e.clock.Advance(24*time.Hour + time.Minute)
		if n := remind(); n != 1 {
			t.Fatalf("%d reminders 7 days before (cm2 only: cm1 enrolled, cm3 never logged in)", n)
		}
		if n := remind(); n != 0 {
			t.Fatalf("the 7-day reminder again: %d", n)
		}
		m := e.mailed("cm2@example.com", subjReminder7, 1)[0]
		if !containsAll(m.Text(), deadline2.Format(time.RFC3339), "7 day(s) left") {
			t.Fatalf("reminder text: %s", m.Text())
		}
		// Master switch off: nothing is sent; on again: the 1-day reminder.
		e.clock.Advance(6 * 24 * time.Hour)
		admin = e.admin()
		admin.must(`mutation { setOrganizationMfa(input: {enabled: false}) { mfaEnabled } }`, nil)
		if n := remind(); n != 0 {
			t.Fatalf("%d reminders while MFA is off", n)
		}
		admin.must(`mutation { setOrganizationMfa(input: {enabled: true}) { mfaEnabled } }`, nil)
		if n := remind(); n != 1 {
			t.Fatalf("%d 1-day reminders", n)
		}
		if n := remind(); n != 0 {
			t.Fatalf("the 1-day reminder again: %d", n)
		}
		e.mailed("cm2@example.com", subjReminder1, 1)

		// Past the deadline: no skip, and cm2 is overdue.
		e.clock.Advance(deadline2.Sub(e.clock.Now()) + time.Minute)
		admin = e.admin()
		p = graceLoginAs(t, e, "cm2")
		if p["status"] != "ENROLLMENT_REQUIRED" || p["canSkip"] != false {
			t.Fatalf("cm2 past the deadline: %v", p)
		}
		before := skippedCount(t, admin, ids["cm2"])
		wantError(t, "skip past the deadline", e.client().post(skipEnrollmentMut, map[string]any{"t": p["ticket"]}), "FORBIDDEN", "GRACE_PERIOD_OVER")
		if skippedCount(t, admin, ids["cm2"]) != before {
			t.Fatal("a refused skip was audited")
		}
		graceLoginAs(t, e, "cm3") // cm3's grace starts now
		overdue := graceUsers(t, admin, map[string]any{"mfaOverdue": true})
		if len(overdue) != 1 || overdue["cm2"] == nil {
			t.Fatalf("overdue: %v", overdue)
		}
		if n := len(graceUsers(t, admin, map[string]any{"mfaOverdue": false, "userType": "case_manager"})); n != 2 {
			t.Fatalf("not overdue case managers: %d", n)
		}
		soon := graceUsers(t, admin, map[string]any{"mfaDeadlineBefore": e.clock.Now().Add(11 * 24 * time.Hour).Format(time.RFC3339)})
		if len(soon) != 2 || soon["cm2"] == nil || soon["cm3"] == nil {
			t.Fatalf("deadline before 11 days from now: %v", soon)
		}
		if n := len(graceUsers(t, admin, map[string]any{"mfaDeadlineBefore": e.clock.Now().Format(time.RFC3339)})); n != 1 {
			t.Fatalf("deadline before now: %d", n)
		}

		// An admin's enrolment request has no grace.
		admin.must(`mutation($in: EnrollmentRequestInput!) { requestEnrollment(input: $in) { request { factorType } } }`,
			map[string]any{"in": map[string]any{"userId": ids["staff1"], "factorType": "totp"}})
		p = graceLoginAs(t, e, "staff1")
		if p["status"] != "ENROLLMENT_REQUIRED" || p["canSkip"] != false || p["deadline"] != nil {
			t.Fatalf("requested enrolment: %v", p)
		}
		wantError(t, "skip a requested enrolment", e.client().post(skipEnrollmentMut, map[string]any{"t": p["ticket"]}), "FORBIDDEN", "NO_GRACE_PERIOD")
		wantError(t, "skip with a bad ticket", e.client().post(skipEnrollmentMut, map[string]any{"t": "nope"}), "UNAUTHENTICATED", "INVALID_TICKET")
	})
}

// sameTime compares a GraphQL Time with an RFC 3339 time.
func sameTime(v any, want string) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	a, err1 := time.Parse(time.RFC3339Nano, s)
	b, err2 := time.Parse(time.RFC3339Nano, want)
	return err1 == nil && err2 == nil && a.Sub(b).Abs() < time.Second
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
