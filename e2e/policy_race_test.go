package e2e

import (
	"fmt"
	"sync"
	"testing"
)

// TestParallelPolicyPatchesKeepEveryField: two admins on two servers patch
// different fields of the same scope at the same moment, again and again
// (the first time creating the row); every patch's field survives.
func TestParallelPolicyPatchesKeepEveryField(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		first := e.admin()
		second := e.clientOf(e.startServer())
		p, _ := second.login("demo", "admin", adminPassword)
		second.token = p["token"].(string)
		scope := map[string]any{"userType": "contractor"}
		for round := 1; round <= 8; round++ {
			var wg sync.WaitGroup
			wg.Go(func() {
				e.setPolicy(first, map[string]any{"scope": scope, "trustedBrowserDays": round})
			})
			wg.Go(func() {
				e.setPolicy(second, map[string]any{"scope": scope, "lockoutMinutes": 10 + round})
			})
			wg.Wait()
			d := first.must(`{ policies(filter: {userType: "contractor"}) { edges { node { trustedBrowserDays lockoutMinutes } } } }`, nil)
			got := fmt.Sprint(nodes(d, "policies"))
			if want := fmt.Sprintf("[map[lockoutMinutes:%d trustedBrowserDays:%d]]", 10+round, round); got != want {
				t.Fatalf("round %d: %s, want %s (a parallel patch was lost)", round, got, want)
			}
		}
	})
}
