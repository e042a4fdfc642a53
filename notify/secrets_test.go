package notify_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models/modelstest"
	"github.com/twofoldauth/twofold/notify/smtptest"
)

// holds reports whether any of the row's data values contains s.
func holds(n mfa.Notification, s string) bool {
	for _, v := range n.Data {
		if strings.Contains(v, s) {
			return true
		}
	}
	return false
}

// A link's token stays in the outbox only while its mail may still be
// sent: a retry keeps it, and SENT, LOGGED, DEAD and SKIPPED rows have the
// link blanked (the other data is kept).
func TestWorkerBlanksLinksOfFinishedRows(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		link := func(tok string) map[string]string {
			return map[string]string{"username": "ann", "link": "https://mfa.test/demo#recover=" + tok, "expires_in": "30 minutes"}
		}
		w := f.worker(true, nil)

		// SENT: the mail carries the token, the row no longer does.
		sent := f.enqueue(mfa.EventRecoveryLink, "ann@example.com", link("sent-token"))
		f.sink.Down()
		f.runOnce(w)
		if r := f.row(sent); r.Status != mfa.NotificationPending || r.Data["link"] != "https://mfa.test/demo#recover=sent-token" {
			t.Fatalf("a row to be retried must keep its link: %+v", r)
		}
		f.sink.Up()
		f.clock.Advance(2 * time.Minute)
		f.runOnce(w)
		if m := f.sink.Wait(1, 5*time.Second)[0]; m.Link() != "https://mfa.test/demo#recover=sent-token" {
			t.Fatalf("the mail lacks the link: %q", m.Text())
		}
		if r := f.row(sent); r.Status != mfa.NotificationSent || holds(r, "sent-token") || r.Data["link"] != "" ||
			r.Data["expires_in"] != "30 minutes" || r.Data["username"] != "ann" {
			t.Errorf("sent row: %+v", r)
		}

		// DEAD (a permanent refusal) and SKIPPED (no address).
		dead := f.enqueue(mfa.EventRecoveryLink, "gone@example.com", link("dead-token"))
		skipped := f.enqueue(mfa.EventPasswordResetLink, "", link("skipped-token"))
		f.sink.Reject(func(string) error { return smtptest.PermFailure })
		f.runOnce(w)
		f.sink.Reject(nil)
		if r := f.row(dead); r.Status != mfa.NotificationDead || holds(r, "dead-token") {
			t.Errorf("dead row: %+v", r)
		}
		if r := f.row(skipped); r.Status != mfa.NotificationSkipped || holds(r, "skipped-token") {
			t.Errorf("skipped row: %+v", r)
		}

		// LOGGED (no SMTP server): the log has the mail, the row not the token.
		logged := f.enqueue(mfa.EventPasswordResetLink, "ann@example.com", link("logged-token"))
		f.runOnce(f.worker(false, slog.New(slog.DiscardHandler)))
		if r := f.row(logged); r.Status != mfa.NotificationLogged || holds(r, "logged-token") {
			t.Errorf("logged row: %+v", r)
		}

		// Rows without a secret are finished as before.
		plain := f.enqueue(mfa.EventMFAReset, "ann@example.com", map[string]string{"actor": "Boss"})
		f.runOnce(w)
		if r := f.row(plain); r.Status != mfa.NotificationSent || r.Data["actor"] != "Boss" {
			t.Errorf("plain row: %+v", r)
		}
	})
}
