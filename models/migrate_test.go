package models

import (
	"context"
	"sync"
	"testing"

	"github.com/twofoldauth/twofold/models/modelstest"
)

// TestMigrationsFromManyServersAtOnce: servers starting together on an empty
// database all migrate it without an error (check-then-create races end in
// "table already exists" or "duplicate key name", which are retried), and
// the schema is whole.
func TestMigrationsFromManyServersAtOnce(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		const n = 6
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				s, err := Open(context.Background(), url)
				if err == nil {
					s.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("server %d: %v", i, err)
			}
		}
		s, err := Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		m := s.db.Migrator()
		for _, row := range allRows() {
			if !m.HasTable(row) {
				t.Errorf("table of %T missing", row)
			}
		}
		for _, ix := range []string{"ix_audit_org_time_id", "ix_audit_org_actor_time", "ix_audit_org_subject_time", "ix_audit_time"} {
			if !m.HasIndex(&auditEvent{}, ix) {
				t.Errorf("index %s missing", ix)
			}
		}
		for _, ix := range retiredAuditIndexes {
			if m.HasIndex(&auditEvent{}, ix) {
				t.Errorf("retired index %s still there", ix)
			}
		}
	})
}
