package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models/modelstest"
)

// TestLoginCostsTheSameForUnknownNames measures, against a real server at
// the production argon2id cost, the median time of 200 wrong logins each
// for existing users, unknown names and unknown organizations, interleaved
// so that load on the machine falls on all three alike. The medians must
// be within 10 % of each other: timing must not tell which part was wrong.
func TestLoginCostsTheSameForUnknownNames(t *testing.T) {
	if testing.Short() {
		t.Skip("timing needs 600 logins at full cost")
	}
	dialects := modelstest.Dialects(t)
	d := dialects[len(dialects)-1] // MariaDB when there is one
	e := &env{t: t, cfg: testConfig(modelstest.NewURL(t, d)), clock: &clock{now: time.Now().UTC().Truncate(time.Millisecond)}}
	e.cfg.MFA.Password = mfa.DefaultPasswordConfig
	e.srv = e.startServer()
	admin := e.admin()
	e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "maxFailedAttempts": 100})
	const n, users = 200, 4
	for i := range users {
		e.createUser(admin, map[string]any{"username": fmt.Sprintf("tim%d", i), "email": fmt.Sprintf("tim%d@example.com", i), "password": "tim-password-123"})
	}
	kinds := []struct {
		name     string
		org, usr func(i int) string
	}{
		{"existing user", func(int) string { return "demo" }, func(i int) string { return fmt.Sprintf("tim%d", i%users) }},
		{"unknown name", func(int) string { return "demo" }, func(i int) string { return fmt.Sprintf("nobody%d", i) }},
		{"unknown organization", func(i int) string { return fmt.Sprintf("nowhere%d", i) }, func(i int) string { return fmt.Sprintf("tim%d", i%users) }},
	}
	took := make([][]time.Duration, len(kinds))
	c := e.client()
	for i := range n + 10 {
		for k, kind := range kinds {
			start := time.Now()
			_, r := c.login(kind.org(i), kind.usr(i), "wrong-password-123")
			d := time.Since(start)
			if r.code() != "UNAUTHENTICATED" {
				t.Fatalf("%s: %+v", kind.name, r)
			}
			if i >= 10 { // the first ones warm caches and connections
				took[k] = append(took[k], d)
			}
		}
	}
	medians := make([]time.Duration, len(kinds))
	for k := range kinds {
		slices.Sort(took[k])
		medians[k] = took[k][len(took[k])/2]
	}
	t.Logf("medians of %d wrong logins: %s %v, %s %v, %s %v", n, kinds[0].name, medians[0], kinds[1].name, medians[1], kinds[2].name, medians[2])
	lo, hi := slices.Min(medians), slices.Max(medians)
	if float64(hi-lo) > 0.10*float64(lo) {
		t.Fatalf("medians differ by more than 10%%: %v", medians)
	}
}
