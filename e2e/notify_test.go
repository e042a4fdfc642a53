package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
	"github.com/twofoldauth/twofold/models/modelstest"
	"github.com/twofoldauth/twofold/notify/smtptest"
	"github.com/twofoldauth/twofold/server"
)

// mailServer starts another server on the env's database with the env's
// config changed by mod; stop closes it (waiting for its worker's batch in
// flight) and may be called more than once.
func (e *env) mailServer(mod func(*server.Config)) (hs *httptest.Server, stop func()) {
	e.t.Helper()
	cfg := e.cfg
	if mod != nil {
		mod(&cfg)
	}
	s, err := server.New(context.Background(), cfg, server.WithMFAOptions(mfa.WithClock(e.clock)))
	if err != nil {
		e.t.Fatalf("server.New: %v", err)
	}
	hs = httptest.NewServer(s.Handler())
	var once sync.Once
	stop = func() { once.Do(func() { hs.Close(); s.Close() }) }
	e.t.Cleanup(stop)
	return hs, stop
}

// outbox opens the env's database directly, as a test-side view of the
// outbox table.
func (e *env) outbox() *models.Store {
	e.t.Helper()
	s, err := models.Open(context.Background(), e.cfg.DatabaseURL)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

// outboxRows lists every row of the demo organization.
func outboxRows(t *testing.T, st *models.Store, orgID string) []mfa.Notification {
	t.Helper()
	var out []mfa.Notification
	p := mfa.Page{Limit: 100}
	for {
		page, err := st.Notifications(context.Background(), mfa.NotificationQuery{OrganizationID: orgID, Page: p})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Items...)
		if !page.More {
			return out
		}
		p.After = &page.Cursors[len(page.Cursors)-1]
	}
}

// waitRows waits until every row of the organization satisfies ok.
func waitRows(t *testing.T, st *models.Store, orgID string, want int, ok func(mfa.Notification) bool) []mfa.Notification {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		rows := outboxRows(t, st, orgID)
		good := 0
		for _, r := range rows {
			if ok(r) {
				good++
			}
		}
		if len(rows) == want && good == want {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox: %d of %d rows as wanted after %v: %+v", good, len(rows), mailWait, rows)
		}
		<-tick.C
	}
}

// enqueueMails writes n outbox rows for the demo organization, as an
// event's transaction does, and returns the organization's id.
func enqueueMails(t *testing.T, st *models.Store, n int, now time.Time) string {
	t.Helper()
	ctx := context.Background()
	org, err := st.OrganizationBySlug(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]mfa.Notification, n)
	for i := range rows {
		rows[i] = mfa.Notification{ID: uuid.Must(uuid.NewV7()).String(), OrganizationID: org.ID, UserID: uuid.NewString(),
			To: fmt.Sprintf("user%02d@example.com", i), Event: mfa.EventMFAReset,
			Data:   map[string]string{"username": fmt.Sprintf("user%02d", i), "display_name": "User", "actor": "Admin"},
			Status: mfa.NotificationPending, NextAttemptAt: now, CreatedAt: now}
	}
	if err := st.EnqueueNotifications(ctx, rows); err != nil {
		t.Fatal(err)
	}
	return org.ID
}

// assertDelivered checks that the sink holds exactly want messages, one
// per outbox row (distinct Message-IDs and recipients).
func assertDelivered(t *testing.T, sink *smtptest.Sink, want int) {
	t.Helper()
	msgs := sink.Messages()
	ids, rcpts := map[string]bool{}, map[string]bool{}
	for _, m := range msgs {
		ids[m.MessageID()] = true
		rcpts[strings.Join(m.To, ",")] = true
		if !m.TLS || m.User != smtptest.Username {
			t.Errorf("delivered without STARTTLS or AUTH: %v", m)
		}
	}
	if len(msgs) != want || len(ids) != want || len(rcpts) != want {
		t.Fatalf("sink: %d messages, %d distinct ids, %d distinct recipients; want %d of each", len(msgs), len(ids), len(rcpts), want)
	}
}

// Three servers on one database share the outbox: 50 mails, 50 deliveries.
func TestOutboxThreeServersSendEachMailOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		_, stop2 := e.mailServer(nil)
		_, stop3 := e.mailServer(nil)
		st := e.outbox()
		orgID := enqueueMails(t, st, 50, e.clock.Now())
		e.mail().Wait(50, mailWait)
		waitRows(t, st, orgID, 50, func(n mfa.Notification) bool { return n.Status == mfa.NotificationSent && n.Attempts == 1 })
		// Every worker has finished its batch: nothing more can arrive.
		stop2()
		stop3()
		assertDelivered(t, e.mail(), 50)
	})
}

// SMTP down for a while: the rows wait with their error, and once it is
// back they arrive, each once, with three servers sharing the database.
func TestOutboxSMTPDownThenBack(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		e.mail().Down()
		_, stop2 := e.mailServer(nil)
		_, stop3 := e.mailServer(nil)
		st := e.outbox()
		orgID := enqueueMails(t, st, 30, e.clock.Now())
		rows := waitRows(t, st, orgID, 30, func(n mfa.Notification) bool {
			return n.Status == mfa.NotificationPending && n.Attempts == 1 && n.LastError != "" && n.NextAttemptAt.After(e.clock.Now())
		})
		if !strings.Contains(rows[0].LastError, "connect") && !strings.Contains(rows[0].LastError, "refused") {
			t.Errorf("last error does not say the server was unreachable: %q", rows[0].LastError)
		}
		if e.mail().Count() != 0 {
			t.Fatal("mail delivered while SMTP was down")
		}
		e.mail().Up()
		// The retry is due a minute (±20 %) later on the shared clock.
		e.clock.Advance(2 * time.Minute)
		e.mail().Wait(30, mailWait)
		waitRows(t, st, orgID, 30, func(n mfa.Notification) bool { return n.Status == mfa.NotificationSent && n.Attempts == 2 })
		stop2()
		stop3()
		assertDelivered(t, e.mail(), 30)
	})
}

// A server that committed an event and stopped before sending: the next
// server sends the mail.
func TestOutboxMailSentAfterTheServerStopped(t *testing.T) {
	for _, d := range modelstest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			// The deployment's only server has no worker, as if it died
			// right after each commit.
			e := &env{t: t, cfg: testConfig(modelstest.NewURL(t, d)), clock: &clock{now: time.Now().UTC().Truncate(time.Millisecond)}}
			e.sink = mailSink(t, &e.cfg)
			e.cfg.Mail.NoWorker = true
			e.srv = e.startServer()
			admin := e.admin()
			e.createUser(admin, map[string]any{"username": "carol", "email": "carol@example.com", "displayName": "Carol", "password": "carol-password-123"})
			c := e.client()
			for range 5 {
				c.login("demo", "carol", "wrong-password-000")
			}
			st := e.outbox()
			org, err := st.OrganizationBySlug(context.Background(), "demo")
			if err != nil {
				t.Fatal(err)
			}
			rows := outboxRows(t, st, org.ID)
			if len(rows) != 1 || rows[0].Event != mfa.EventLocked || rows[0].Status != mfa.NotificationPending || rows[0].To != "carol@example.com" {
				t.Fatalf("outbox after the lockout: %+v", rows)
			}
			if e.mail().Count() != 0 {
				t.Fatal("a server without a worker sent mail")
			}
			// A new server starts and sends it.
			e.mailServer(func(c *server.Config) { c.Mail.NoWorker = false })
			m := e.mailsTo("carol@example.com", 1)[0]
			if !strings.Contains(m.Subject(), "locked") || !strings.Contains(m.Text(), "carol") {
				t.Errorf("mail: %q %q", m.Subject(), m.Text())
			}
			waitRows(t, st, org.ID, 1, func(n mfa.Notification) bool { return n.Status == mfa.NotificationSent })
		})
	}
}

const (
	settingsQuery      = `{ notificationSettings { event subject text html custom enabled variables updatedAt } }`
	setTemplateMut     = `mutation($in: SetNotificationTemplateInput!) { setNotificationTemplate(input: $in) { setting { event subject text html custom enabled } } }`
	resetTemplateMut   = `mutation($e: String!) { resetNotificationTemplate(input: {event: $e}) { setting { event subject custom enabled } } }`
	setEnabledMut      = `mutation($e: String!, $on: Boolean!) { setNotificationEnabled(input: {event: $e, enabled: $on}) { setting { event enabled custom } } }`
	previewQuery       = `query($in: PreviewNotificationInput!) { previewNotification(input: $in) { subject text html } }`
	notificationsQuery = `query($f: NotificationFilter, $first: Int, $after: String) { notifications(first: $first, after: $after, filter: $f) {
	  totalCount pageInfo { hasNextPage endCursor }
	  edges { node { id event status to user { id username } attempts lastError createdAt sentAt nextAttemptAt } } } }`
)

// setting returns the organization's setting of ev as the client sees it.
func setting(t *testing.T, c *client, ev string) map[string]any {
	t.Helper()
	for _, s := range c.must(settingsQuery, nil)["notificationSettings"].([]any) {
		if m := s.(map[string]any); m["event"] == ev {
			return m
		}
	}
	t.Fatalf("no setting for %s", ev)
	return nil
}

// lockOut makes five wrong logins of user, which locks them and writes an
// account.locked mail.
func lockOut(e *env, user string) {
	c := e.client()
	for range 5 {
		c.login("demo", user, "wrong-password-000")
	}
}

// Template overrides: only MANAGE_ORGANIZATION sets them, bad ones are
// refused with BAD_USER_INPUT naming the part and line and change nothing,
// a good one is used by the next mail of the organization only, previews
// send nothing, a switched-off event is SKIPPED, and a reset restores the
// default.
func TestNotificationTemplateRules(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		helpdesk, _ := newUser(t, e, admin, "helpdesk", map[string]any{"permissions": []string{"MANAGE_USERS", "VIEW_AUDIT"}})
		other := e.otherOrganization("other")
		before := setting(t, admin, "account.locked")
		if before["custom"] != false || before["enabled"] != true || !strings.Contains(before["subject"].(string), "locked") {
			t.Fatalf("default setting: %v", before)
		}
		vars := strings.Join(toStrings(before["variables"]), ",")
		if vars != "username,display_name,organization_name,public_url,until" {
			t.Errorf("variables: %s", vars)
		}
		big := strings.Repeat("x", 64<<10+1)
		refused := map[string]struct {
			c     *client
			in    map[string]any
			code  string
			field string
			msg   string
		}{
			"no MANAGE_ORGANIZATION": {helpdesk, map[string]any{"event": "account.locked", "subject": "x"}, "FORBIDDEN", "", ""},
			"unknown event":          {admin, map[string]any{"event": "account.exploded", "subject": "x"}, "BAD_USER_INPUT", "event", "unknown event"},
			"does not parse":         {admin, map[string]any{"event": "account.locked", "text": "Hi\n{{if .username}}"}, "BAD_USER_INPUT", "text", "text line 2"},
			"unknown variable":       {admin, map[string]any{"event": "account.locked", "html": "<p>\n{{.password}}</p>"}, "BAD_USER_INPUT", "html", "html line 2: unknown variable .password"},
			"another event's var":    {admin, map[string]any{"event": "account.locked", "subject": "{{.link}}"}, "BAD_USER_INPUT", "subject", "subject line 1: unknown variable .link"},
			"range":                  {admin, map[string]any{"event": "account.locked", "text": "{{range 1000000000}}x{{end}}"}, "BAD_USER_INPUT", "text", "range is not allowed"},
			"oversize":               {admin, map[string]any{"event": "account.locked", "html": big}, "BAD_USER_INPUT", "html", "64 KiB"},
		}
		for name, c := range refused {
			r := c.c.post(setTemplateMut, map[string]any{"in": c.in})
			wantRefusal(t, name, r, c.code, "", c.field)
			if len(r.Errors) > 0 && !strings.Contains(r.Errors[0].Message, c.msg) {
				t.Errorf("%s: message %q lacks %q", name, r.Errors[0].Message, c.msg)
			}
			// Preview checks the same way.
			if c.code == "BAD_USER_INPUT" {
				wantRefusal(t, name+" (preview)", c.c.post(previewQuery, map[string]any{"in": c.in}), c.code, "", c.field)
			}
		}
		wantRefusal(t, "switch without MANAGE_ORGANIZATION", helpdesk.post(setEnabledMut, map[string]any{"e": "account.locked", "on": false}), "FORBIDDEN", "", "")
		wantRefusal(t, "reset without MANAGE_ORGANIZATION", helpdesk.post(resetTemplateMut, map[string]any{"e": "account.locked"}), "FORBIDDEN", "", "")
		wantRefusal(t, "switch an unknown event", admin.post(setEnabledMut, map[string]any{"e": "nope", "on": false}), "BAD_USER_INPUT", "", "event")
		if after := setting(t, admin, "account.locked"); jsonOf(after) != jsonOf(before) {
			t.Fatalf("refused calls changed the setting: %v", after)
		}

		// A preview renders sample data (escaped in HTML) and sends nothing.
		p := admin.must(previewQuery, map[string]any{"in": map[string]any{"event": "account.locked", "subject": "Locked at {{.organization_name}}",
			"html": "<p>{{.display_name}} until {{.until}}</p>"}})["previewNotification"].(map[string]any)
		if p["subject"] != "Locked at demo" || !strings.Contains(p["html"].(string), "Jane Doe until 2030") || !strings.Contains(p["text"].(string), "was locked") {
			t.Errorf("preview: %v", p)
		}

		set := admin.must(setTemplateMut, map[string]any{"in": map[string]any{"event": "account.locked",
			"subject": "{{.organization_name}}: {{.username}} is locked", "html": "<p>{{.display_name}}</p>"}})
		if s := dig(set, "setNotificationTemplate", "setting").(map[string]any); s["custom"] != true || !strings.Contains(s["text"].(string), "too many failed") {
			t.Errorf("set: %v", s)
		}
		if s := setting(t, other, "account.locked"); s["custom"] != false {
			t.Errorf("another organization's setting changed: %v", s)
		}
		e.createUser(admin, map[string]any{"username": "carol", "email": "carol@example.com", "displayName": "<b>Carol</b>", "password": "carol-password-123"})
		lockOut(e, "carol")
		m := e.mailsTo("carol@example.com", 1)[0]
		if m.Subject() != "demo: carol is locked" || !strings.Contains(m.HTML(), "&lt;b&gt;Carol&lt;/b&gt;") || !strings.Contains(m.Text(), "too many failed") {
			t.Errorf("overridden mail: %q %q %q", m.Subject(), m.HTML(), m.Text())
		}

		// Switched off: the row is SKIPPED, nothing is sent.
		admin.must(setEnabledMut, map[string]any{"e": "account.locked", "on": false})
		daveID := e.createUser(admin, map[string]any{"username": "dave", "email": "dave@example.com", "password": "dave-password-1234"})
		lockOut(e, "dave")
		st := e.outbox()
		org, _ := st.OrganizationBySlug(context.Background(), "demo")
		waitRows(t, st, org.ID, 2, func(n mfa.Notification) bool {
			return (n.UserID == daveID && n.Status == mfa.NotificationSkipped) || (n.UserID != daveID && n.Status == mfa.NotificationSent)
		})
		if n := len(e.mail().Messages()); n != 1 {
			t.Errorf("%d mails, want only carol's", n)
		}

		reset := admin.must(resetTemplateMut, map[string]any{"e": "account.locked"})
		if s := dig(reset, "resetNotificationTemplate", "setting").(map[string]any); s["custom"] != false || s["subject"] != before["subject"] || s["enabled"] != false {
			t.Errorf("reset: %v", s)
		}
		admin.must(setEnabledMut, map[string]any{"e": "account.locked", "on": true})
		if s := setting(t, admin, "account.locked"); s["custom"] != false || s["enabled"] != true {
			t.Errorf("after reset and switch on: %v", s)
		}
	})
}

// The outbox list: VIEW_AUDIT only, one organization's rows, newest first,
// filtered by status, user and event.
func TestNotificationsListForAuditors(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		auditor, _ := newUser(t, e, admin, "auditor", map[string]any{"permissions": []string{"VIEW_AUDIT"}})
		manager, _ := newUser(t, e, admin, "manager", map[string]any{"permissions": []string{"MANAGE_USERS"}})
		other := e.otherOrganization("other")
		carolID := e.createUser(admin, map[string]any{"username": "carol", "email": "carol@example.com", "password": "carol-password-123"})
		daveID := e.createUser(admin, map[string]any{"username": "dave", "email": "dave@example.com", "password": "dave-password-1234"})
		lockOut(e, "carol")
		e.mailsTo("carol@example.com", 1)
		e.clock.Advance(time.Second)
		lockOut(e, "dave")
		e.mailsTo("dave@example.com", 1)
		st := e.outbox()
		org, _ := st.OrganizationBySlug(context.Background(), "demo")
		waitRows(t, st, org.ID, 2, func(n mfa.Notification) bool { return n.Status == mfa.NotificationSent })

		list := func(c *client, f map[string]any) []map[string]any {
			t.Helper()
			d := c.must(notificationsQuery, map[string]any{"f": f})
			var out []map[string]any
			for _, e := range dig(d, "notifications", "edges").([]any) {
				out = append(out, e.(map[string]any)["node"].(map[string]any))
			}
			return out
		}
		all := list(auditor, nil)
		if len(all) != 2 || all[0]["to"] != "dave@example.com" || all[1]["to"] != "carol@example.com" {
			t.Fatalf("not newest first: %v", all)
		}
		n := all[1]
		if n["event"] != "account.locked" || n["status"] != "SENT" || n["attempts"] != float64(1) ||
			n["lastError"] != "" || n["sentAt"] == nil || n["createdAt"] == nil || n["nextAttemptAt"] == nil {
			t.Errorf("row: %v", n)
		}
		// The user is shown to those who may read users (as in the audit
		// log): the admin, not the auditor.
		if n["user"] != nil {
			t.Errorf("an auditor without MANAGE_USERS reads the user: %v", n["user"])
		}
		if got := list(admin, nil); dig(got[0], "user", "id") != daveID || dig(got[1], "user", "username") != "carol" {
			t.Errorf("admin's view of the users: %v", got)
		}
		if got := list(auditor, map[string]any{"userId": carolID}); len(got) != 1 || got[0]["to"] != "carol@example.com" {
			t.Errorf("userId filter: %v", got)
		}
		if got := list(auditor, map[string]any{"status": "PENDING"}); len(got) != 0 {
			t.Errorf("status filter: %v", got)
		}
		if got := list(auditor, map[string]any{"event": "account.locked", "status": "SENT"}); len(got) != 2 {
			t.Errorf("event filter: %v", got)
		}
		if got := list(auditor, map[string]any{"event": "mfa.reset"}); len(got) != 0 {
			t.Errorf("event filter: %v", got)
		}
		page := auditor.must(notificationsQuery, map[string]any{"first": 1})
		if dig(page, "notifications", "totalCount") != float64(2) || dig(page, "notifications", "pageInfo", "hasNextPage") != true {
			t.Errorf("first page: %v", page)
		}
		next := auditor.must(notificationsQuery, map[string]any{"first": 1, "after": dig(page, "notifications", "pageInfo", "endCursor")})
		if edges := dig(next, "notifications", "edges").([]any); len(edges) != 1 || dig(edges[0], "node", "to") != "carol@example.com" {
			t.Errorf("second page: %v", next)
		}
		if got := list(other, nil); len(got) != 0 {
			t.Errorf("another organization sees %d rows", len(got))
		}
		wantRefusal(t, "without VIEW_AUDIT", manager.post(notificationsQuery, nil), "FORBIDDEN", "", "")
		wantRefusal(t, "unknown event filter", auditor.post(notificationsQuery, map[string]any{"f": map[string]any{"event": "nope"}}), "BAD_USER_INPUT", "", "filter.event")
		wantRefusal(t, "bad user id", auditor.post(notificationsQuery, map[string]any{"f": map[string]any{"userId": "x"}}), "BAD_USER_INPUT", "", "filter.userId")
		wantRefusal(t, "bad cursor", auditor.post(notificationsQuery, map[string]any{"after": "bm9wZQ"}), "BAD_USER_INPUT", "", "after")
	})
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
