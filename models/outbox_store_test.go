package models_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models/modelstest"
	"github.com/twofoldauth/twofold/notify"
)

func enqueue(t *testing.T, s interface {
	EnqueueNotifications(context.Context, []mfa.Notification) error
}, orgID, userID string, n int, at time.Time) []mfa.Notification {
	t.Helper()
	ns := make([]mfa.Notification, n)
	for i := range ns {
		ns[i] = mfa.Notification{ID: id(), OrganizationID: orgID, UserID: userID, To: fmt.Sprintf("u%d@example.com", i),
			Event: mfa.EventMFAReset, Data: map[string]string{"actor": "A"}, Status: mfa.NotificationPending,
			NextAttemptAt: at, CreatedAt: at.Add(time.Duration(i) * time.Millisecond)}
	}
	if err := s.EnqueueNotifications(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns
}

// Workers on several connections claim in parallel: every due row goes to
// exactly one claim, and a claimed row is not due again until its lease
// ends.
func TestClaimNotificationsIsExclusive(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		stores := []interface {
			ClaimNotifications(context.Context, string, time.Time, time.Time, int) ([]mfa.Notification, error)
		}{}
		s := open(t, url)
		for range 3 {
			stores = append(stores, open(t, url))
		}
		org := seedOrg(t, s)
		u := seedUser(t, s, org.ID, "ann", nil)
		now := time.Now().UTC().Truncate(time.Millisecond)
		enqueue(t, s, org.ID, u.ID, 60, now)
		// Not yet due, and another status: never claimed.
		later := enqueue(t, s, org.ID, u.ID, 1, now.Add(time.Hour))
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st := stores[w%len(stores)]
				for {
					rows, err := st.ClaimNotifications(ctx, fmt.Sprintf("tok%d-%d", w, time.Now().UnixNano()), now, now.Add(time.Minute), 7)
					if err != nil {
						t.Error(err)
						return
					}
					if len(rows) == 0 {
						return
					}
					mu.Lock()
					for _, r := range rows {
						seen[r.ID]++
						if r.Attempts != 1 {
							t.Errorf("attempts %d after one claim", r.Attempts)
						}
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != 60 {
			t.Fatalf("%d rows claimed, want 60", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("row %s claimed %d times", id, n)
			}
			if id == later[0].ID {
				t.Error("a row not yet due was claimed")
			}
		}
		// The lease holds until it ends; then the rows are due again.
		if rows, _ := s.ClaimNotifications(ctx, "again", now.Add(59*time.Second), now.Add(2*time.Minute), 100); len(rows) != 0 {
			t.Errorf("%d leased rows claimed again", len(rows))
		}
		rows, err := s.ClaimNotifications(ctx, "after-lease", now.Add(time.Minute), now.Add(2*time.Minute), 100)
		if err != nil || len(rows) != 60 || rows[0].Attempts != 2 {
			t.Fatalf("after the lease: %d rows (err %v)", len(rows), err)
		}
	})
}

func TestFinishNotificationNeedsTheClaim(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		org := seedOrg(t, s)
		u := seedUser(t, s, org.ID, "ann", nil)
		now := time.Now().UTC().Truncate(time.Millisecond)
		ns := enqueue(t, s, org.ID, u.ID, 2, now)
		if _, err := s.ClaimNotifications(ctx, "old", now, now.Add(time.Minute), 10); err != nil {
			t.Fatal(err)
		}
		// The lease ran out and another worker took the rows.
		if _, err := s.ClaimNotifications(ctx, "new", now.Add(time.Minute), now.Add(2*time.Minute), 10); err != nil {
			t.Fatal(err)
		}
		sent := now.Add(time.Minute)
		if err := s.FinishNotification(ctx, ns[0].ID, "old", notify.Result{Status: mfa.NotificationSent, SentAt: &sent}); !errors.Is(err, mfa.ErrStale) {
			t.Fatalf("finish with a lost claim: %v", err)
		}
		if err := s.FinishNotification(ctx, ns[0].ID, "new", notify.Result{Status: mfa.NotificationSent, SentAt: &sent}); err != nil {
			t.Fatal(err)
		}
		// Done once: a second outcome is refused.
		if err := s.FinishNotification(ctx, ns[0].ID, "new", notify.Result{Status: mfa.NotificationDead}); !errors.Is(err, mfa.ErrStale) {
			t.Fatalf("second outcome: %v", err)
		}
		retryAt := now.Add(10 * time.Minute)
		if err := s.FinishNotification(ctx, ns[1].ID, "new", notify.Result{Status: mfa.NotificationPending, LastError: "451 later", NextAttemptAt: retryAt}); err != nil {
			t.Fatal(err)
		}
		page, err := s.Notifications(ctx, mfa.NotificationQuery{OrganizationID: org.ID, Page: mfa.Page{Limit: 10}})
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]mfa.Notification{}
		for _, n := range page.Items {
			byID[n.ID] = n
		}
		if n := byID[ns[0].ID]; n.Status != mfa.NotificationSent || n.SentAt == nil || !n.SentAt.Equal(sent) || n.Attempts != 2 {
			t.Errorf("sent row: %+v", n)
		}
		if n := byID[ns[1].ID]; n.Status != mfa.NotificationPending || n.LastError != "451 later" || !n.NextAttemptAt.Equal(retryAt) {
			t.Errorf("retried row: %+v", n)
		}
		// Not due before its retry time, due at it.
		if rows, _ := s.ClaimNotifications(ctx, "x", retryAt.Add(-time.Second), retryAt.Add(time.Minute), 10); len(rows) != 0 {
			t.Error("retried row claimed before its time")
		}
		if rows, _ := s.ClaimNotifications(ctx, "y", retryAt, retryAt.Add(time.Minute), 10); len(rows) != 1 {
			t.Error("retried row not claimed at its time")
		}
	})
}

func TestNotificationsListNewestFirstWithFilters(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		org, other := seedOrg(t, s), seedOrg(t, s)
		ann, bob := seedUser(t, s, org.ID, "ann", nil), seedUser(t, s, org.ID, "bob", nil)
		now := time.Now().UTC().Truncate(time.Millisecond)
		a := enqueue(t, s, org.ID, ann.ID, 5, now)
		enqueue(t, s, org.ID, bob.ID, 3, now.Add(time.Second))
		enqueue(t, s, other.ID, seedUser(t, s, other.ID, "eve", nil).ID, 4, now)
		var got []string
		p := mfa.Page{Limit: 3}
		for {
			page, err := s.Notifications(ctx, mfa.NotificationQuery{OrganizationID: org.ID, Page: p})
			if err != nil {
				t.Fatal(err)
			}
			if page.Total != 8 || !page.TotalExact {
				t.Fatalf("total %d exact %v", page.Total, page.TotalExact)
			}
			for _, n := range page.Items {
				got = append(got, n.ID)
			}
			if !page.More {
				break
			}
			p.After = &page.Cursors[len(page.Cursors)-1]
		}
		if len(got) != 8 {
			t.Fatalf("%d rows over the pages, want 8", len(got))
		}
		if got[7] != a[0].ID || got[3] != a[4].ID {
			t.Errorf("not newest first: %v", got)
		}
		page, err := s.Notifications(ctx, mfa.NotificationQuery{OrganizationID: org.ID, Filter: mfa.NotificationFilter{UserID: ann.ID, Status: mfa.NotificationPending, Event: mfa.EventMFAReset}, Page: mfa.Page{Limit: 50}})
		if err != nil || len(page.Items) != 5 || page.Total != 5 {
			t.Fatalf("filtered: %v %+v", err, page)
		}
		page, _ = s.Notifications(ctx, mfa.NotificationQuery{OrganizationID: org.ID, Filter: mfa.NotificationFilter{Status: mfa.NotificationSent}, Page: mfa.Page{Limit: 50}})
		if len(page.Items) != 0 {
			t.Errorf("status filter: %d rows", len(page.Items))
		}
		bad := "not a time"
		if _, err := s.Notifications(ctx, mfa.NotificationQuery{OrganizationID: org.ID, Page: mfa.Page{Limit: 5, After: &mfa.Cursor{Values: []*string{&bad}}}}); !errors.Is(err, mfa.ErrBadCursor) {
			t.Errorf("bad cursor: %v", err)
		}
	})
}

func TestNotificationTemplatesUpsert(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s := open(t, url)
		org, other := seedOrg(t, s), seedOrg(t, s)
		if _, err := s.NotificationTemplate(ctx, org.ID, mfa.EventLocked); !errors.Is(err, mfa.ErrNotFound) {
			t.Fatalf("no setting: %v", err)
		}
		big := make([]byte, mfa.MaxTemplateBytes)
		for i := range big {
			big[i] = 'x'
		}
		tpl := &mfa.NotificationTemplate{OrganizationID: org.ID, Event: mfa.EventLocked, Subject: "s", Text: string(big), HTML: string(big), Enabled: true, UpdatedAt: time.Now()}
		if err := s.SaveNotificationTemplate(ctx, tpl); err != nil {
			t.Fatal(err)
		}
		tpl.Subject, tpl.Enabled = "s2", false
		if err := s.SaveNotificationTemplate(ctx, tpl); err != nil {
			t.Fatal(err)
		}
		got, err := s.NotificationTemplate(ctx, org.ID, mfa.EventLocked)
		if err != nil || got.Subject != "s2" || got.Enabled || len(got.Text) != mfa.MaxTemplateBytes || len(got.HTML) != mfa.MaxTemplateBytes {
			t.Fatalf("%v %+v", err, got.Subject)
		}
		if all, _ := s.NotificationTemplates(ctx, other.ID); len(all) != 0 {
			t.Errorf("another organization sees %d settings", len(all))
		}
	})
}
