package notify_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
	"github.com/twofoldauth/twofold/models/modelstest"
	"github.com/twofoldauth/twofold/notify"
	"github.com/twofoldauth/twofold/notify/smtptest"
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	t     *testing.T
	store *models.Store
	org   *mfa.Organization
	clock *testClock
	sink  *smtptest.Sink
	tpl   *notify.Templates
}

func newFixture(t *testing.T, url string) *fixture {
	s, err := models.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Now().UTC().Truncate(time.Millisecond)
	org := &mfa.Organization{ID: uuid.NewString(), Slug: "acme", Name: "Acme & Co", CreatedAt: now}
	if err := s.CreateOrganization(context.Background(), org); err != nil {
		t.Fatal(err)
	}
	tpl, err := notify.NewTemplates()
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, store: s, org: org, clock: &testClock{now: now}, sink: smtptest.New(t), tpl: tpl}
}

func (f *fixture) worker(smtp bool, log *slog.Logger) *notify.Worker {
	cfg := notify.Config{From: "twofold@mfa.test", PublicURL: "https://mfa.test", Now: f.clock.Now, RetryBase: time.Minute, MaxAge: 24 * time.Hour, Logger: log}
	if smtp {
		sc, err := notify.ParseSMTPURL(f.sink.URL(), f.sink.CAFile())
		if err != nil {
			f.t.Fatal(err)
		}
		sc.Timeout = 5 * time.Second
		cfg.Sender = notify.NewSMTPSender(sc)
	}
	return notify.NewWorker(f.store, f.tpl, cfg)
}

func (f *fixture) enqueue(ev mfa.Event, to string, data map[string]string) string {
	f.t.Helper()
	now := f.clock.Now()
	n := mfa.Notification{ID: uuid.NewString(), OrganizationID: f.org.ID, UserID: uuid.NewString(), To: to, Event: ev,
		Data: data, Status: mfa.NotificationPending, NextAttemptAt: now, CreatedAt: now}
	if err := f.store.EnqueueNotifications(context.Background(), []mfa.Notification{n}); err != nil {
		f.t.Fatal(err)
	}
	return n.ID
}

func (f *fixture) row(id string) mfa.Notification {
	f.t.Helper()
	page, err := f.store.Notifications(context.Background(), mfa.NotificationQuery{OrganizationID: f.org.ID, Page: mfa.Page{Limit: 100}})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, n := range page.Items {
		if n.ID == id {
			return n
		}
	}
	f.t.Fatalf("row %s not found", id)
	return mfa.Notification{}
}

func (f *fixture) runOnce(w *notify.Worker) int {
	f.t.Helper()
	n, err := w.RunOnce(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func TestWorkerSendsRendered(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		id := f.enqueue(mfa.EventRecoveryLink, "ann@example.com", map[string]string{"username": "ann", "display_name": "Ann <A>",
			"link": "https://mfa.test/demo#recover=tok", "expires_in": "30 minutes"})
		if n := f.runOnce(f.worker(true, nil)); n != 1 {
			t.Fatalf("claimed %d", n)
		}
		m := f.sink.Wait(1, 5*time.Second)[0]
		if m.To[0] != "ann@example.com" || m.From != "twofold@mfa.test" || !strings.Contains(m.Subject(), "Acme & Co") {
			t.Errorf("envelope/subject: %v %v %q", m.From, m.To, m.Subject())
		}
		if m.Link() != "https://mfa.test/demo#recover=tok" || !strings.Contains(m.HTML(), "Ann &lt;A&gt;") || !strings.Contains(m.Text(), "Ann <A>") {
			t.Errorf("parts: text %q html %q", m.Text(), m.HTML())
		}
		r := f.row(id)
		if r.Status != mfa.NotificationSent || r.SentAt == nil || r.Attempts != 1 || r.LastError != "" {
			t.Errorf("row: %+v", r)
		}
		// Nothing left: a second run sends nothing.
		if n := f.runOnce(f.worker(true, nil)); n != 0 || f.sink.Count() != 1 {
			t.Errorf("second run claimed %d, sink has %d", n, f.sink.Count())
		}
	})
}

func TestWorkerRetriesWithBackoffThenSends(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		w := f.worker(true, nil)
		id := f.enqueue(mfa.EventMFAReset, "ann@example.com", map[string]string{"actor": "Boss"})
		f.sink.Down()
		f.runOnce(w)
		r := f.row(id)
		first := r.NextAttemptAt.Sub(f.clock.Now())
		if r.Status != mfa.NotificationPending || r.LastError == "" || first < 48*time.Second || first > 72*time.Second {
			t.Fatalf("after a refused connection: %+v (retry in %v)", r, first)
		}
		// Not due before its time.
		f.clock.Advance(first - time.Second)
		if n := f.runOnce(w); n != 0 {
			t.Fatalf("retried early: %d", n)
		}
		f.clock.Advance(time.Second)
		f.sink.Up()
		f.sink.Reject(func(string) error { return smtptest.TempFailure })
		f.runOnce(w)
		r = f.row(id)
		second := r.NextAttemptAt.Sub(f.clock.Now())
		if r.Status != mfa.NotificationPending || !strings.Contains(r.LastError, "451") || second < 96*time.Second || second > 144*time.Second {
			t.Fatalf("after a 451: %+v (retry in %v, want about 2m)", r, second)
		}
		f.sink.Reject(nil)
		f.clock.Advance(second)
		f.runOnce(w)
		f.sink.Wait(1, 5*time.Second)
		if r = f.row(id); r.Status != mfa.NotificationSent || r.Attempts != 3 {
			t.Fatalf("after coming back: %+v", r)
		}
	})
}

func TestWorkerGivesUp(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		w := f.worker(true, nil)
		perm := f.enqueue(mfa.EventMFAReset, "gone@example.com", map[string]string{"actor": "Boss"})
		f.sink.Reject(func(string) error { return smtptest.PermFailure })
		f.runOnce(w)
		if r := f.row(perm); r.Status != mfa.NotificationDead || !strings.Contains(r.LastError, "550") {
			t.Fatalf("550: %+v", r)
		}
		old := f.enqueue(mfa.EventMFAReset, "late@example.com", map[string]string{"actor": "Boss"})
		f.sink.Reject(func(string) error { return smtptest.TempFailure })
		f.runOnce(w)
		f.clock.Advance(25 * time.Hour)
		f.runOnce(w)
		if r := f.row(old); r.Status != mfa.NotificationDead || !strings.Contains(r.LastError, "maximum age") || !strings.Contains(r.LastError, "451") {
			t.Fatalf("max age: %+v", r)
		}
		if f.sink.Count() != 0 {
			t.Errorf("%d mails sent", f.sink.Count())
		}
	})
}

func TestWorkerUsesOrganizationTemplates(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := context.Background()
		save := func(tpl mfa.NotificationTemplate) {
			tpl.OrganizationID, tpl.UpdatedAt = f.org.ID, f.clock.Now()
			if err := f.store.SaveNotificationTemplate(ctx, &tpl); err != nil {
				t.Fatal(err)
			}
		}
		save(mfa.NotificationTemplate{Event: mfa.EventMFAReset, Subject: "{{.organization_name}}: reset by {{.actor}}", Enabled: true})
		save(mfa.NotificationTemplate{Event: mfa.EventLocked, Enabled: false})
		reset := f.enqueue(mfa.EventMFAReset, "ann@example.com", map[string]string{"actor": "Boss"})
		locked := f.enqueue(mfa.EventLocked, "ann@example.com", map[string]string{"until": "soon"})
		f.runOnce(f.worker(true, nil))
		m := f.sink.Wait(1, 5*time.Second)[0]
		if m.Subject() != "Acme & Co: reset by Boss" || !strings.Contains(m.Text(), "Boss reset the two-factor") {
			t.Errorf("override: %q / %q", m.Subject(), m.Text())
		}
		if r := f.row(reset); r.Status != mfa.NotificationSent {
			t.Errorf("reset: %+v", r)
		}
		if r := f.row(locked); r.Status != mfa.NotificationSkipped || !strings.Contains(r.LastError, "switched this event off") {
			t.Errorf("switched off: %+v", r)
		}
		if f.sink.Count() != 1 {
			t.Errorf("%d mails", f.sink.Count())
		}
	})
}

func TestWorkerWithoutSMTPLogsTheMail(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		var buf bytes.Buffer
		var mu sync.Mutex
		log := slog.New(slog.NewTextHandler(lockedWriter{&buf, &mu}, nil))
		id := f.enqueue(mfa.EventPasswordResetLink, "ann@example.com", map[string]string{"link": "https://mfa.test/demo#reset=xyz", "expires_in": "30 minutes"})
		f.runOnce(f.worker(false, log))
		if r := f.row(id); r.Status != mfa.NotificationLogged || r.SentAt == nil {
			t.Errorf("row: %+v", r)
		}
		mu.Lock()
		out := buf.String()
		mu.Unlock()
		if !strings.Contains(out, "https://mfa.test/demo#reset=xyz") || !strings.Contains(out, "ann@example.com") {
			t.Errorf("log lacks the mail: %s", out)
		}
	})
}

// A worker that claimed rows and died before sending leaves them to the
// next one once the lease ends; nothing is sent twice.
func TestWorkerResumesAfterALostLease(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		id := f.enqueue(mfa.EventMFAReset, "ann@example.com", map[string]string{"actor": "Boss"})
		now := f.clock.Now()
		if rows, err := f.store.ClaimNotifications(context.Background(), "dead-worker", now, now.Add(notify.DefaultLease), 10); err != nil || len(rows) != 1 {
			t.Fatalf("claim: %v %d", err, len(rows))
		}
		w := f.worker(true, nil)
		if n := f.runOnce(w); n != 0 {
			t.Fatalf("a leased row was claimed: %d", n)
		}
		f.clock.Advance(notify.DefaultLease)
		f.runOnce(w)
		f.sink.Wait(1, 5*time.Second)
		if r := f.row(id); r.Status != mfa.NotificationSent || r.Attempts != 2 {
			t.Fatalf("row: %+v", r)
		}
	})
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
