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
