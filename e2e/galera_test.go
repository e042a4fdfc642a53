package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/server"
)

// The Galera tests run Twofold on a 3-node MariaDB Galera cluster, one
// server per node, as a multi-master deployment would: conflicting commits
// on different nodes abort (1213) instead of waiting, and reads on one node
// may lag a commit on another. `make test` starts the cluster
// (scripts/galera.sh) when galera-4 is installed and names its nodes in
// TWOFOLD_TEST_GALERA_DSNS; GALERA_DIR lets the test kill and restart a
// node.

// galeraDSNs returns the cluster's three DSNs, or skips (fails with
// TWOFOLD_TEST_REQUIRE_GALERA=1) when there is no cluster.
func galeraDSNs(t *testing.T) []string {
	v := os.Getenv("TWOFOLD_TEST_GALERA_DSNS")
	if v == "" {
		if os.Getenv("TWOFOLD_TEST_REQUIRE_GALERA") == "1" {
			t.Fatal("TWOFOLD_TEST_REQUIRE_GALERA=1 but TWOFOLD_TEST_GALERA_DSNS is not set")
		}
		t.Skip("TWOFOLD_TEST_GALERA_DSNS not set (make test starts a cluster when galera-4 is installed)")
	}
	dsns := strings.Split(v, ",")
	if len(dsns) != 3 {
		t.Fatalf("TWOFOLD_TEST_GALERA_DSNS must name 3 nodes, got %d", len(dsns))
	}
	return dsns
}

// galeraURLs creates a fresh database on the cluster (dropped at the end)
// and returns its URL on each node.
func galeraURLs(t *testing.T, dsns []string) []string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "twofold_g_" + hex.EncodeToString(b)
	admin, err := sql.Open("mysql", dsns[0])
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("create database on the cluster: %v", err)
	}
	t.Cleanup(func() {
		for _, dsn := range dsns { // the first node that answers drops it everywhere
			if db, err := sql.Open("mysql", dsn); err == nil {
				_, err = db.Exec("DROP DATABASE IF EXISTS " + name)
				db.Close()
				if err == nil {
					return
				}
			}
		}
	})
	// DDL reaches the other nodes a moment later: wait for it.
	for _, dsn := range dsns {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var n int
			if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", name).Scan(&n); err == nil && n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("database %s not on %s after 10 s", name, dsn)
			}
		}
		db.Close()
	}
	urls := make([]string, len(dsns))
	for i, dsn := range dsns {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.DBName = name
		urls[i] = "mysql://" + cfg.FormatDSN()
	}
	return urls
}

// galeraEnv is an env whose first server runs on node 1, with one more
// server on each of nodes 2 and 3: nodes[i] is the server on node i+1.
func galeraEnv(t *testing.T, dsns []string) (*env, []*httptest.Server) {
	urls := galeraURLs(t, dsns)
	e := newEnv(t, urls[0])
	return e, []*httptest.Server{e.srv, e.startServerOn(urls[1]), e.startServerOn(urls[2])}
}

// startServerOn starts a server of the env on another database URL (the
// same database through another node).
func (e *env) startServerOn(url string) *httptest.Server {
	e.t.Helper()
	cfg := e.cfg
	cfg.DatabaseURL = url
	s, err := server.New(context.Background(), cfg, server.WithMFAOptions(mfa.WithClock(e.clock)))
	if err != nil {
		e.t.Fatalf("server.New on %s: %v", url, err)
	}
	hs := httptest.NewServer(s.Handler())
	e.t.Cleanup(func() { hs.Close(); s.Close() })
	return hs
}

// spread sends n requests at once, request i to server i%3, and counts the
// answers of each kind.
func spread(e *env, nodes []*httptest.Server, n int, send func(i int, c *client) string) map[string]int {
	var mu sync.Mutex
	out := map[string]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a := send(i, e.clientOf(nodes[i%len(nodes)]))
			mu.Lock()
			out[a]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func TestGalera(t *testing.T) {
	dsns := galeraDSNs(t)

	// Servers started at once on an empty database all migrate it (DDL
	// races: "table already exists", "duplicate key name") and bootstrap
	// the same organization.
	t.Run("servers start at once", func(t *testing.T) {
		urls := galeraURLs(t, dsns)
		base := testConfig(urls[0])
		base.PluginDir = "" // migrations are the point, not plugins
		const n = 6
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				cfg := base
				cfg.DatabaseURL = urls[i%3]
				s, err := server.New(context.Background(), cfg)
				if err == nil {
					s.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("server %d on node %d: %v", i, i%3+1, err)
			}
		}
	})

	t.Run("a user created on one node logs in on another at once", func(t *testing.T) {
		e, nodes := galeraEnv(t, dsns)
		admin := e.admin() // on node 1
		for i := range 10 {
			name := fmt.Sprintf("fresh%02d", i)
			e.createUser(admin, map[string]any{"username": name, "email": name + "@example.com", "password": name + "-password-1"})
			c := e.clientOf(nodes[1+i%2])
			if p, r := c.login("demo", name, name+"-password-1"); p == nil || p["status"] != "AUTHENTICATED" {
				t.Fatalf("%s through node %d right after its creation on node 1: %+v %+v", name, 2+i%2, p, r.Errors)
			}
		}
	})

	t.Run("an enrolment begun on node 1 is finished on node 2", func(t *testing.T) {
		e, nodes := galeraEnv(t, dsns)
		admin := e.admin()
		ann, _ := newUser(t, e, admin, "ann", nil)
		d := ann.must(beginEnrollment, map[string]any{"in": map[string]any{"factorType": "totp", "label": "phone"}})
		id := dig(d, "beginEnrollment", "enrollmentId").(string)
		app := newTOTPApp(t, dig(d, "beginEnrollment", "clientData", "secret").(string))
		ann.url = nodes[1].URL
		d = ann.must(completeEnrollment, map[string]any{"in": map[string]any{"enrollmentId": id, "response": map[string]any{"code": app.next()}}})
		if dig(d, "completeEnrollment", "enrollment", "status") != "ACTIVE" {
			t.Fatalf("completed on node 2: %v", d)
		}
		// The next login, on node 3, asks for the factor, and node 1 checks it.
		p := loginStep(t, e.clientOf(nodes[2]), "ann", "ann-password-1")
		if p["status"] != "MFA_REQUIRED" {
			t.Fatalf("login on node 3: %v", p)
		}
		if r := verify(e.clientOf(nodes[0]), p["ticket"].(string), id, map[string]any{"code": app.next()}, false); dig(r.Data, "verifyFactor", "status") != "AUTHENTICATED" {
			t.Fatalf("verify on node 1: %+v", r)
		}
	})

	t.Run("a TOTP code is accepted once across nodes", func(t *testing.T) {
		e, nodes := galeraEnv(t, dsns)
		admin := e.admin()
		bob, _ := newUser(t, e, admin, "bob", nil)
		app, enr, _ := enrolTOTP(t, bob, nil)
		// Losers' answers count as failures: allow them.
		e.setPolicy(admin, map[string]any{"scope": map[string]any{}, "maxFailedAttempts": 100})
		code := app.next()
		const n = 30
		tickets := make([]string, n)
		for i := range n {
			tickets[i] = loginStep(t, e.clientOf(nodes[i%3]), "bob", "bob-password-1")["ticket"].(string)
		}
		got := spread(e, nodes, n, func(i int, c *client) string {
			return answer(verify(c, tickets[i], enr, map[string]any{"code": code}, false), "verifyFactor")
		})
		if got["AUTHENTICATED"] != 1 || got["UNAUTHENTICATED/CODE_ALREADY_USED"] != n-1 {
			t.Fatalf("%d uses of one code over three nodes: %v, want 1 AUTHENTICATED and the rest CODE_ALREADY_USED", n, got)
		}
	})

	t.Run("the lockout cannot be outrun across nodes", func(t *testing.T) {
		e, nodes := galeraEnv(t, dsns)
		admin := e.admin()
		newUser(t, e, admin, "kim", nil)
		const n, max = 45, 5
		got := spread(e, nodes, n, func(i int, c *client) string {
			_, r := c.login("demo", "kim", fmt.Sprintf("wrong-password-%02d", i))
			return answer(r, "login")
		})
		if got["UNAUTHENTICATED/INVALID_CREDENTIALS"] > max || got["LOCKED"] < n-max || len(got) > 2 {
			t.Fatalf("answers to %d wrong passwords over three nodes: %v", n, got)
		}
		if evaluated := auditCount(t, admin, "login.failed", map[string]string{"reason": "bad_password", "username": "kim"}); evaluated < 1 || evaluated > max {
			t.Fatalf("%d wrong passwords were checked, want at most %d", evaluated, max)
		}
		if p, r := e.clientOf(nodes[1]).login("demo", "kim", "kim-password-1"); p == nil || p["status"] != "LOCKED" {
			t.Fatalf("right password after the burst: %+v %+v", p, r.Errors)
		}
	})

	t.Run("concurrent logins of one user never fail", func(t *testing.T) {
		e, nodes := galeraEnv(t, dsns)
		admin := e.admin()
		newUser(t, e, admin, "ned", nil)
		got := spread(e, nodes, 6, func(_ int, c *client) string {
			bad := ""
			for range 20 {
				if p, r := c.login("demo", "ned", "ned-password-1"); p["status"] != "AUTHENTICATED" {
					bad = answer(r, "login")
				}
			}
			return "failed: " + bad
		})
		if got["failed: "] != 6 {
			t.Fatalf("120 logins of one user over three nodes: %v", got)
		}
	})

	t.Run("readyz says a node that is not synced is not ready", func(t *testing.T) {
		_, nodes := galeraEnv(t, dsns)
		db, err := sql.Open("mysql", dsns[2])
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if code := readyz(t, nodes[2]); code != http.StatusOK {
			t.Fatalf("readyz of a synced node's server: %d", code)
		}
		// A desynced node (as while it donates a state transfer) serves
		// stale data: not ready.
		if _, err := db.Exec("SET GLOBAL wsrep_desync = ON"); err != nil {
			t.Fatal(err)
		}
		code := readyz(t, nodes[2])
		if _, err := db.Exec("SET GLOBAL wsrep_desync = OFF"); err != nil {
			t.Fatal(err)
		}
		if code != http.StatusServiceUnavailable {
			t.Fatalf("readyz of a desynced node's server: %d, want 503", code)
		}
		if code := readyz(t, nodes[0]); code != http.StatusOK {
			t.Fatalf("readyz of node 1's server meanwhile: %d", code)
		}
	})

	// Last: it takes node 2 away and brings it back.
	t.Run("a node lost under load", func(t *testing.T) {
		dir := os.Getenv("GALERA_DIR")
		if dir == "" {
			dir = "/tmp/twofold-galera"
		}
		if _, err := os.Stat(filepath.Join(dir, "base")); err != nil {
			t.Skip("GALERA_DIR does not hold the cluster scripts/galera.sh started: cannot kill a node")
		}
		galera := func(args ...string) {
			t.Helper()
			cmd := exec.Command("../scripts/galera.sh", args...)
			cmd.Env = append(os.Environ(), "GALERA_DIR="+dir)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("galera.sh %v: %v\n%s", args, err, out)
			}
		}
		e, nodes := galeraEnv(t, dsns)
		admin := e.admin()
		const workers = 4
		for w := range workers {
			newUser(t, e, admin, fmt.Sprint("lou", w), nil)
		}
		killed := false
		t.Cleanup(func() {
			if killed {
				galera("restart", "2")
			}
		})

		// Load on the servers of nodes 1 and 3, before, during and after
		// the loss of node 2.
		var stop atomic.Bool
		var mu sync.Mutex
		failures := map[string]int{}
		ok := atomic.Int32{}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				c := e.clientOf(nodes[[]int{0, 2}[w%2]])
				name := fmt.Sprint("lou", w)
				for !stop.Load() {
					if p, r := c.login("demo", name, name+"-password-1"); p != nil && p["status"] == "AUTHENTICATED" {
						ok.Add(1)
					} else {
						mu.Lock()
						failures[fmt.Sprintf("node %d: %s", []int{1, 3}[w%2], answer(r, "login"))]++
						mu.Unlock()
					}
				}
			})
		}
		for ok.Load() < 8 {
			time.Sleep(10 * time.Millisecond)
		}
		galera("kill", "2")
		killed = true
		lost := e.clientOf(nodes[1])
		start := time.Now()
		_, r := lost.login("demo", "lou0", "lou0-password-1")
		failFast := time.Since(start)
		if r.code() != "UNAVAILABLE" {
			t.Errorf("login through the server of the dead node: %+v, want UNAVAILABLE", r.Errors)
		} else if failFast > 3*time.Second {
			t.Errorf("the server of the dead node took %v to answer UNAVAILABLE", failFast)
		}
		if code := readyz(t, nodes[1]); code != http.StatusServiceUnavailable {
			t.Errorf("readyz of the dead node's server: %d", code)
		}
		// The survivors keep serving through the cluster's reconfiguration.
		before := ok.Load()
		deadline := time.Now().Add(30 * time.Second)
		for ok.Load() < before+20 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if ok.Load() < before+20 {
			t.Errorf("the servers of nodes 1 and 3 served %d logins in 30 s after node 2 died", ok.Load()-before)
		}
		t.Logf("node 2 killed: its server answered UNAVAILABLE in %v; the others served %d logins in the next %v",
			failFast, ok.Load()-before, time.Since(start))
		restart := time.Now()
		galera("restart", "2")
		killed = false
		rejoined := time.Now()
		t.Logf("node 2 rejoined in %v", rejoined.Sub(restart))
		// The server of node 2 recovers by itself.
		deadline = time.Now().Add(20 * time.Second)
		var last response
		for {
			p, r := lost.login("demo", "lou0", "lou0-password-1")
			if p != nil && p["status"] == "AUTHENTICATED" {
				break
			}
			last = r
			if time.Now().After(deadline) {
				t.Fatalf("the server of node 2 did not recover after the node rejoined: %+v", last.Errors)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("the server of node 2 served again %v after the node rejoined", time.Since(rejoined))
		if code := readyz(t, nodes[1]); code != http.StatusOK {
			t.Errorf("readyz after the rejoin: %d", code)
		}
		stop.Store(true)
		wg.Wait()
		if len(failures) > 0 {
			t.Errorf("the servers of the surviving nodes answered with errors: %v (and %d logins)", failures, ok.Load())
		}
	})
}

func readyz(t *testing.T, hs *httptest.Server) int {
	t.Helper()
	resp, err := http.Get(hs.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
