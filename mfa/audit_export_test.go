package mfa_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
	"github.com/twofoldauth/twofold/models/modelstest"
)

func newAuditService(t *testing.T, url string, now time.Time, retention time.Duration) (*mfa.Service, mfa.Store) {
	t.Helper()
	store, err := models.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ring, _ := mfa.NewKeyring(key)
	svc, err := mfa.New(store, mfa.Config{
		Password:       mfa.PasswordConfig{MemoryKiB: 64, Iterations: 1, Parallelism: 1, MinLength: 12, MaxLength: 256},
		AuditRetention: retention,
	}, mfa.WithKeyring(ring), mfa.WithClock(fixedClock{now}))
	if err != nil {
		t.Fatal(err)
	}
	return svc, store
}

// addEvents stores n events of org, the i-th at at(i), in one transaction,
// and returns their ids in order.
func addEvents(t *testing.T, st mfa.Store, orgID string, n int, at func(i int) time.Time) []string {
	t.Helper()
	ids := make([]string, n)
	err := st.Transaction(context.Background(), func(tx mfa.Store) error {
		for i := range n {
			ids[i] = uuid.Must(uuid.NewV7()).String()
			e := &mfa.AuditEvent{ID: ids[i], OrganizationID: orgID, ActorID: "actor", SubjectID: fmt.Sprint("subject-", i),
				Action: mfa.AuditLoginFailed, IP: "192.0.2.1", Details: map[string]string{"n": fmt.Sprint(i)}, CreatedAt: at(i)}
			if err := tx.AddAuditEvent(context.Background(), e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func exportLines(t *testing.T, svc *mfa.Service, org string, from, to time.Time) []mfa.AuditRecord {
	t.Helper()
	var buf bytes.Buffer
	n, err := svc.ExportAuditEvents(context.Background(), org, from, to, &buf)
	if err != nil {
		t.Fatal(err)
	}
	var out []mfa.AuditRecord
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var r mfa.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d is not one JSON object: %v: %s", len(out)+1, err, sc.Text())
		}
		out = append(out, r)
	}
	if n != len(out) {
		t.Fatalf("export says %d events, wrote %d lines", n, len(out))
	}
	return out
}

// TestAuditExportStreamsARangeInOrder: an export of [from, to) has every
// event of the range exactly once, oldest first (ties by id), across page
// boundaries that fall inside runs of equal times; --org keeps to one
// organization.
func TestAuditExportStreamsARangeInOrder(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		svc, st := newAuditService(t, url, now, 0)
		for _, slug := range []string{"acme", "globex"} {
			if _, err := svc.Bootstrap(ctx, slug, "admin", "admin-password-1"); err != nil {
				t.Fatal(err)
			}
		}
		acme, _ := st.OrganizationBySlug(ctx, "acme")
		globex, _ := st.OrganizationBySlug(ctx, "globex")
		from := now.Add(-48 * time.Hour)
		// Three events per millisecond: pages of 1,000 end inside a run.
		inRange := addEvents(t, st, acme.ID, 2500, func(i int) time.Time { return from.Add(time.Duration(i/3) * time.Millisecond) })
		to := from.Add(time.Duration(2500/3+1) * time.Millisecond)
		addEvents(t, st, acme.ID, 5, func(i int) time.Time { return to.Add(time.Duration(i) * time.Millisecond) }) // at and after to
		addEvents(t, st, acme.ID, 5, func(i int) time.Time { return from.Add(-time.Duration(i+1) * time.Millisecond) })
		other := addEvents(t, st, globex.ID, 7, func(i int) time.Time { return from.Add(time.Duration(i) * time.Second / 10) })

		got := exportLines(t, svc, "acme", from, to)
		if len(got) != len(inRange) {
			t.Fatalf("acme export: %d events, want %d", len(got), len(inRange))
		}
		want := map[string]bool{}
		for _, id := range inRange {
			want[id] = true
		}
		for i, r := range got {
			if !want[r.ID] {
				t.Fatalf("line %d: %s is not an event of the range (or came twice)", i+1, r.ID)
			}
			delete(want, r.ID)
			if r.OrganizationID != acme.ID || r.OrganizationSlug != "acme" || r.Action != mfa.AuditLoginFailed || r.Details["n"] == "" {
				t.Fatalf("line %d: %+v", i+1, r)
			}
			if i > 0 {
				p := got[i-1]
				if r.Time.Before(p.Time) || (r.Time.Equal(p.Time) && r.ID <= p.ID) {
					t.Fatalf("line %d out of order: %v %s after %v %s", i+1, r.Time, r.ID, p.Time, p.ID)
				}
			}
		}

		all := exportLines(t, svc, "", from, to)
		if len(all) != len(inRange)+len(other) {
			t.Fatalf("export of every organization: %d events, want %d", len(all), len(inRange)+len(other))
		}
		seen := 0
		for _, r := range all {
			if r.OrganizationID == globex.ID && r.OrganizationSlug == "globex" {
				seen++
			}
		}
		if seen != len(other) {
			t.Fatalf("globex events in the full export: %d, want %d", seen, len(other))
		}

		for name, tc := range map[string]struct {
			org      string
			from, to time.Time
			code     mfa.Code
		}{
			"to before from":       {"acme", to, from, mfa.CodeBadUserInput},
			"empty range":          {"acme", from, from, mfa.CodeBadUserInput},
			"no from":              {"acme", time.Time{}, to, mfa.CodeBadUserInput},
			"unknown organization": {"nowhere", from, to, mfa.CodeNotFound},
		} {
			var buf bytes.Buffer
			var e *mfa.Error
			if _, err := svc.ExportAuditEvents(ctx, tc.org, tc.from, tc.to, &buf); !errors.As(err, &e) || e.Code != tc.code || buf.Len() != 0 {
				t.Errorf("%s: %v (%d bytes written), want %s", name, err, buf.Len(), tc.code)
			}
		}
	})
}

// TestAuditRetentionPurgesInBatches: the periodic purge deletes the events
// older than the retention, 5,000 per statement, and keeps the rest; with
// no retention it keeps everything.
func TestAuditRetentionPurgesInBatches(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	const retention = 90 * 24 * time.Hour
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		keep, st := newAuditService(t, url, now, 0)
		if _, err := keep.Bootstrap(ctx, "acme", "admin", "admin-password-1"); err != nil {
			t.Fatal(err)
		}
		acme, _ := st.OrganizationBySlug(ctx, "acme")
		cutoff := now.Add(-retention)
		old := 2*mfa.AuditPurgeBatch + 7
		addEvents(t, st, acme.ID, old, func(i int) time.Time { return cutoff.Add(-time.Duration(i+1) * time.Second) })
		young := addEvents(t, st, acme.ID, 20, func(i int) time.Time { return cutoff.Add(time.Duration(i) * time.Second) })

		count := func() int {
			t.Helper()
			n := 0
			var after mfa.AuditKey
			for {
				page, err := st.AuditEventsInRange(ctx, mfa.AuditRange{From: time.Unix(0, 0), To: now.Add(time.Hour)}, after, 5000)
				if err != nil {
					t.Fatal(err)
				}
				n += len(page)
				if len(page) < 5000 {
					return n
				}
				after = mfa.AuditKey{CreatedAt: page[len(page)-1].CreatedAt, ID: page[len(page)-1].ID}
			}
		}
		before := count()
		if n, err := keep.PurgeExpired(ctx); err != nil || n != 0 {
			t.Fatalf("no retention: purged %d, %v", n, err)
		}
		if got := count(); got != before {
			t.Fatalf("no retention: %d events left of %d", got, before)
		}

		// One statement deletes at most a batch.
		if n, err := st.DeleteAuditEventsBefore(ctx, cutoff, mfa.AuditPurgeBatch); err != nil || n != mfa.AuditPurgeBatch {
			t.Fatalf("one batch: deleted %d, %v", n, err)
		}
		purge, _ := newAuditService(t, url, now, retention)
		n, err := purge.PurgeExpired(ctx)
		if err != nil || n != int64(old-mfa.AuditPurgeBatch) {
			t.Fatalf("purge: %d rows, %v; want %d", n, err, old-mfa.AuditPurgeBatch)
		}
		if got := count(); got != before-old {
			t.Fatalf("after the purge: %d events, want %d", got, before-old)
		}
		left, err := st.AuditEventsInRange(ctx, mfa.AuditRange{OrganizationID: acme.ID, From: cutoff, To: cutoff.Add(time.Minute)}, mfa.AuditKey{}, 100)
		if err != nil || len(left) != len(young) || left[0].ID != young[0] {
			t.Fatalf("events at and after the cutoff: %d, %v", len(left), err)
		}
		if n, err := purge.PurgeExpired(ctx); err != nil || n != 0 {
			t.Fatalf("second purge: %d, %v", n, err)
		}
	})
}
