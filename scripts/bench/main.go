// Command bench is `make bench`: it seeds a throwaway MariaDB with a
// million users and a SQLite file with a hundred thousand (bulk inserts
// through the store, not API calls), starts the real bin/twofold with its
// real plugins on each, measures the admin queries (checking their totals
// against ground truth), logins, TOTP verifications and full TOTP logins
// at several concurrencies, the raw argon2id rate, the plugin hop and the
// memory of the server and its plugins, and writes docs/BENCHMARKS.md.
//
//	go run ./scripts/bench                      # the full run (make bench)
//	go run ./scripts/bench -mysql-users 20000 -sqlite-users 5000 -out /tmp/b.md   # a quick one
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

type options struct {
	root                     string
	out                      string
	mysqlUsers, sqliteUsers  int
	mysqlAudit, sqliteAudit  int
	mysqlDSN                 string
	loadFor                  time.Duration
	concurrency              []int
	skipMySQL, skipSQLite    bool
	skipHop                  bool
	keep                     bool
	queryRuns                int
	verifyUsersPerLoadSecond int
}

func main() {
	var o options
	var conc string
	flag.StringVar(&o.out, "out", "docs/BENCHMARKS.md", "the report to write")
	flag.IntVar(&o.mysqlUsers, "mysql-users", 1_000_000, "users seeded on MariaDB (0: skip MariaDB)")
	flag.IntVar(&o.sqliteUsers, "sqlite-users", 100_000, "users seeded on SQLite (0: skip SQLite)")
	flag.IntVar(&o.mysqlAudit, "mysql-audit", 2_000_000, "audit events seeded on MariaDB")
	flag.IntVar(&o.sqliteAudit, "sqlite-audit", 500_000, "audit events seeded on SQLite")
	flag.StringVar(&o.mysqlDSN, "mysql-dsn", "", "an existing MariaDB (root DSN, e.g. root@tcp(127.0.0.1:3306)/) instead of a throwaway one")
	flag.DurationVar(&o.loadFor, "load-for", 4*time.Second, "how long each load step runs")
	flag.StringVar(&conc, "concurrency", "1,8,32,64", "client concurrencies of the load steps")
	flag.BoolVar(&o.skipHop, "skip-hop", false, "do not run the plugin hop benchmark")
	flag.BoolVar(&o.keep, "keep", false, "keep the data folders")
	flag.IntVar(&o.queryRuns, "query-runs", 50, "timed runs of each admin query (fewer when slow)")
	flag.Parse()
	for _, c := range strings.Split(conc, ",") {
		var n int
		fmt.Sscan(c, &n)
		o.concurrency = append(o.concurrency, n)
	}
	wd, _ := os.Getwd()
	o.root = wd
	if _, err := os.Stat(filepath.Join(o.root, "bin/twofold")); err != nil {
		log.Fatal("bin/twofold not found: run make build first (make bench does)")
	}
	if err := benchmark(o); err != nil {
		log.Fatal(err)
	}
}

// result is one database's measurements.
type result struct {
	db       string
	version  string
	seed     *seeded
	queries  []queryResult
	loads    []loadResult
	cpu      map[string]float64 // per verification at 32 clients, ms: server, plugins, database
	rss      map[string][2]float64
	profile  string
	problems []string
	argon2   float64 // raw hashes per second, measured before the logins
}

type queryResult struct {
	name    string
	l       latencies
	check   string
	correct bool
}

type loadResult struct {
	op   string
	conc int
	l    latencies
}

func benchmark(o options) error {
	started := time.Now()
	commit, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	dirty, _ := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output()
	rev := strings.TrimSpace(string(commit))
	if len(dirty) > 0 {
		rev += " (with uncommitted changes)"
	}
	tmp, err := os.MkdirTemp("", "twofold-bench-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(tmp)
	}
	logf := func(f string, a ...any) { log.Printf(f, a...) }
	rep := report{machine: machine(), date: time.Now().UTC().Format("2006-01-02 15:04 MST"), commit: rev, opts: o}

	logf("argon2id raw rate")
	rep.argon2 = argon2Rate(5 * time.Second)
	logf("argon2id: %.1f hashes/s", rep.argon2)
	if !o.skipHop {
		logf("plugin hop benchmark")
		rep.hopPlugin, rep.hopInprocess, rep.hopRaw, err = pluginHop(o.root)
		if err != nil {
			return fmt.Errorf("plugin hop: %v\n%s", err, rep.hopRaw)
		}
	}
	if o.mysqlUsers > 0 {
		dsn := o.mysqlDSN
		version := ""
		dbPID := 0
		if dsn == "" {
			dir := filepath.Join(tmp, "mariadb")
			os.MkdirAll(dir, 0o755)
			m, err := startMariaDB(dir)
			if err != nil {
				return err
			}
			defer m.stop()
			dsn, version, dbPID = m.dsn(), m.version(), m.cmd.Process.Pid
			logf("throwaway MariaDB on %s", dsn)
		}
		db := fmt.Sprintf("twofold_bench_%d", time.Now().Unix())
		if err := createDatabase(dsn, db); err != nil {
			return err
		}
		url := "mysql://" + dsn + db
		r, err := measure(o, "MariaDB", url, o.mysqlUsers, o.mysqlAudit, dbPID, tmp, logf)
		if err != nil {
			return err
		}
		r.version = version
		rep.results = append(rep.results, r)
		rep.took = time.Since(started)
		if err := rep.write(o.out); err != nil {
			return err
		}
	}
	if o.sqliteUsers > 0 {
		url := "sqlite://" + filepath.Join(tmp, "sqlite", "bench.db")
		r, err := measure(o, "SQLite", url, o.sqliteUsers, o.sqliteAudit, 0, tmp, logf)
		if err != nil {
			return err
		}
		rep.results = append(rep.results, r)
	}
	rep.took = time.Since(started)
	if err := rep.write(o.out); err != nil {
		return err
	}
	logf("wrote %s in %v", o.out, rep.took.Round(time.Second))
	return nil
}

func createDatabase(dsn, name string) error {
	out, err := exec.Command("mariadb", "--no-defaults", "-uroot", "-h127.0.0.1", "-P"+portOf(dsn), "-e", "CREATE DATABASE "+name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("create database: %v: %s", err, out)
	}
	return nil
}

func portOf(dsn string) string {
	_, rest, _ := strings.Cut(dsn, "tcp(")
	hostport, _, _ := strings.Cut(rest, ")")
	_, port, _ := strings.Cut(hostport, ":")
	return port
}

// measure seeds one database, starts the server on it and measures.
// dbPID is the database server's process (0: none, or not ours), whose
// CPU counts into a verification's cost.
func measure(o options, name, url string, users, audit, dbPID int, tmp string, logf func(string, ...any)) (*result, error) {
	ctx := context.Background()
	key := make([]byte, 32)
	rand.Read(key)
	logf("%s: seeding %d users, %d audit events", name, users, audit)
	s, err := seed(ctx, url, key, users, audit, logf)
	if err != nil {
		return nil, fmt.Errorf("%s seed: %w", name, err)
	}
	logf("%s: seeded in %v", name, s.took.Round(time.Second))
	r := &result{db: name, seed: s, cpu: map[string]float64{}, rss: map[string][2]float64{}}

	// Verification and full-login users: disjoint, each verifies once
	// (a TOTP code is accepted once per time step).
	// The full logins are argon2id-bound (tens per second): a few
	// thousand users cover them; the rest verify.
	budget := min(len(s.totp)-min(3000, len(s.totp)/4), 40000)
	verifyUsers, fullUsers := s.totp[:budget], s.totp[budget:]
	logf("%s: %d tickets for the verification runs", name, len(verifyUsers))
	tickets, err := makeTickets(ctx, url, s.orgID, verifyUsers)
	if err != nil {
		return nil, fmt.Errorf("tickets: %w", err)
	}

	srv, err := startServer(o.root, url, key, filepath.Join(tmp, strings.ToLower(name)+"-server.log"))
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	c := newClient(srv.base)
	status, token, _, err := c.login(ctx, adminName)
	if err != nil || status != "AUTHENTICATED" {
		return nil, fmt.Errorf("admin login: %s %v", status, err)
	}
	r.queries, err = adminQueries(c, token, s, o.queryRuns)
	if err != nil {
		return nil, err
	}
	for _, q := range r.queries {
		if !q.correct {
			r.problems = append(r.problems, fmt.Sprintf("%s: %s", q.name, q.check))
		}
		logf("%s: %-28s p50 %v p99 %v  %s", name, q.name, q.l.p50.Round(time.Microsecond), q.l.p99.Round(time.Microsecond), q.check)
	}

	// The raw argon2id rate right before the logins, in the same
	// conditions (a shared machine's load changes by the minute).
	r.argon2 = argon2Rate(4 * time.Second)
	logf("%s: argon2id raw rate %.1f/s", name, r.argon2)
	// Logins with a password alone.
	for _, n := range o.concurrency {
		stopSampling := sampleRSS(srv.pid(), r, "server under logins, "+strconv.Itoa(n)+" clients")
		l := run(n, o.loadFor, func(ctx context.Context, i int) error {
			st, _, _, err := c.login(ctx, s.plain[i%len(s.plain)])
			if err == nil && st != "AUTHENTICATED" {
				err = fmt.Errorf("login: %s", st)
			}
			return err
		})
		stopSampling()
		r.loads = append(r.loads, loadResult{"login (password)", n, l})
		logf("%s: login c=%d: %.1f/s p50 %v p99 %v errors %d %s", name, n, l.rate, l.p50, l.p99, l.errors, l.firstErr)
	}
	// verifyFactor (TOTP) on tickets made beforehand.
	plugins := children(srv.pid())
	nextTicket := 0
	take := func() (int, bool) {
		if nextTicket >= len(tickets) {
			return 0, false
		}
		nextTicket++
		return nextTicket - 1, true
	}
	var mu = make(chan struct{}, 1)
	for _, n := range o.concurrency {
		before := cpuSnapshot(srv.pid(), plugins, dbPID)
		stopSampling := sampleRSS(srv.pid(), r, "server under verifyFactor, "+strconv.Itoa(n)+" clients")
		l := run(n, o.loadFor, func(ctx context.Context, _ int) error {
			mu <- struct{}{}
			i, ok := take()
			<-mu
			if !ok {
				return errDone
			}
			return c.verify(ctx, tickets[i], verifyUsers[i], time.Now())
		})
		after := cpuSnapshot(srv.pid(), plugins, dbPID)
		stopSampling()
		r.loads = append(r.loads, loadResult{"verifyFactor (TOTP)", n, l})
		logf("%s: verify c=%d: %.1f/s p50 %v p99 %v errors %d %s", name, n, l.rate, l.p50, l.p99, l.errors, l.firstErr)
		if n == 32 && l.n > 0 {
			for k, v := range after {
				r.cpu[k] = float64(v-before[k]) / float64(time.Millisecond) / float64(l.n)
			}
		}
	}
	// A profile of the server under verifications, on the tickets left.
	if nextTicket < len(tickets)-2000 {
		done := make(chan string)
		go func() { done <- profile(srv.pid(), 3*time.Second, tmp) }()
		run(32, 3*time.Second, func(ctx context.Context, _ int) error {
			mu <- struct{}{}
			i, ok := take()
			<-mu
			if !ok {
				return errDone
			}
			return c.verify(ctx, tickets[i], verifyUsers[i], time.Now())
		})
		r.profile = <-done
	}
	// Full TOTP logins: password, then the code.
	nextFull := 0
	for _, n := range o.concurrency {
		l := run(n, o.loadFor, func(ctx context.Context, _ int) error {
			mu <- struct{}{}
			i := nextFull
			nextFull++
			<-mu
			if i >= len(fullUsers) {
				return errDone
			}
			st, _, ticket, err := c.login(ctx, fullUsers[i].username)
			if err != nil {
				return err
			}
			if st != "MFA_REQUIRED" {
				return fmt.Errorf("login of an enrolled user: %s", st)
			}
			return c.verify(ctx, ticket, fullUsers[i], time.Now())
		})
		r.loads = append(r.loads, loadResult{"full TOTP login", n, l})
		logf("%s: full login c=%d: %.1f/s p50 %v p99 %v errors %d %s", name, n, l.rate, l.p50, l.p99, l.errors, l.firstErr)
	}
	rss, peak := memOf(srv.pid())
	r.rss["server"] = [2]float64{rss, peak}
	for pname, pid := range plugins {
		rss, peak := memOf(pid)
		r.rss["plugin "+pname] = [2]float64{rss, peak}
	}
	return r, nil
}

func cpuSnapshot(server int, plugins map[string]int, db int) map[string]time.Duration {
	out := map[string]time.Duration{"server": cpuOf(server)}
	var p time.Duration
	for _, pid := range plugins {
		p += cpuOf(pid)
	}
	out["plugins"] = p
	if db != 0 {
		out["database"] = cpuOf(db)
	}
	return out
}

// adminQueries times every admin query of the issue and checks its answer
// against the ground truth.
func adminQueries(c *client, token string, s *seeded, runs int) ([]queryResult, error) {
	t := s.truth
	const userPage = `query($f: UserFilter, $after: String) { users(first: 50, after: $after, filter: $f) {
		totalCount totalCountIsExact edges { cursor node { id username displayName status } } } }`
	// The cursor of the user 90 % of the way down the username order
	// (found by a search: both lists sort by username).
	d, err := c.do(context.Background(), token, `query($f: UserFilter) { users(first: 1, filter: $f) { edges { cursor node { id username } } } }`,
		map[string]any{"f": map[string]any{"search": t.deepUsername}})
	if err != nil {
		return nil, err
	}
	deep := ""
	if edges, _ := dig(d, "users", "edges").([]any); len(edges) == 1 {
		deep, _ = dig(edges[0], "cursor").(string)
	}
	var deepFirst string
	var i int
	fmt.Sscanf(t.deepUsername, "u%07d", &i)
	deepFirst = usernameOf(i + 1)

	totalIs := func(want int, exact bool) func(map[string]any, string) (string, bool) {
		return func(d map[string]any, root string) (string, bool) {
			got, ex := num(dig(d, root, "totalCount")), dig(d, root, "totalCountIsExact") == true
			ok := got == want && ex == exact
			if !exact {
				ok = !ex && got <= 10000 && want > 10000
			}
			return fmt.Sprintf("totalCount %d (exact %v), truth %d", got, ex, want), ok
		}
	}
	searchWant := t.searchHits
	qs := []struct {
		name, root, query string
		vars              map[string]any
		check             func(map[string]any, string) (string, bool)
	}{
		{"users(first: 50)", "users", userPage, nil, totalIs(t.users, true)},
		{"users(search)", "users", userPage, map[string]any{"f": map[string]any{"search": t.searchTerm}},
			func(d map[string]any, root string) (string, bool) {
				got := num(dig(d, root, "totalCount"))
				return fmt.Sprintf("totalCount %d, truth %d (%q)", got, searchWant, t.searchTerm), got == searchWant || (searchWant > 10000 && got == 10000)
			}},
		{"users(mfaEnrolled: false)", "users", userPage, map[string]any{"f": map[string]any{"mfaEnrolled": false}}, totalIs(t.notEnrolled, true)},
		{"users(mfaRequired: true)", "users", userPage, map[string]any{"f": map[string]any{"mfaRequired": true}}, totalIs(t.required, true)},
		{"users(after: 90 % cursor)", "users", userPage, map[string]any{"after": deep},
			func(d map[string]any, root string) (string, bool) {
				edges, _ := dig(d, root, "edges").([]any)
				first := ""
				if len(edges) > 0 {
					first, _ = dig(edges[0], "node", "username").(string)
				}
				return fmt.Sprintf("first row %s, want %s", first, deepFirst), first == deepFirst && len(edges) == 50
			}},
		{"enrolledUsers(search)", "enrolledUsers", `query($f: UserFilter) { enrolledUsers(first: 50, filter: $f) { totalCount totalCountIsExact edges { node { id username } } } }`,
			map[string]any{"f": map[string]any{"search": "anna"}},
			func(d map[string]any, root string) (string, bool) {
				got := num(dig(d, root, "totalCount"))
				return fmt.Sprintf("totalCount %d (exact %v)", got, dig(d, root, "totalCountIsExact")), got > 0
			}},
		{"auditEvents(first: 50)", "auditEvents", `query($f: AuditFilter) { auditEvents(first: 50, filter: $f) { totalCount totalCountIsExact edges { node { id action createdAt } } } }`,
			nil, totalIs(t.auditEvents, t.auditEvents <= 10000)},
		{"auditEvents(busy actor)", "auditEvents", `query($f: AuditFilter) { auditEvents(first: 50, filter: $f) { totalCount totalCountIsExact edges { node { id action createdAt } } } }`,
			map[string]any{"f": map[string]any{"userId": s.busyActor}}, totalIs(t.busyActorEvents, t.busyActorEvents <= 10000)},
		{"mfaStats", "mfaStats", `{ mfaStats { userType users required enrolled pending } }`, nil,
			func(d map[string]any, root string) (string, bool) {
				rows, _ := dig(d, root).([]any)
				bad := []string{}
				for _, row := range rows {
					ut, _ := dig(row, "userType").(string)
					want, ok := t.stats[ut]
					got := fmt.Sprintf("%d/%d/%d/%d", num(dig(row, "users")), num(dig(row, "required")), num(dig(row, "enrolled")), num(dig(row, "pending")))
					if exp := fmt.Sprintf("%d/%d/%d/%d", want.Users, want.Required, want.Enrolled, want.Pending); !ok || got != exp {
						bad = append(bad, fmt.Sprintf("%s %s want %s", ut, got, exp))
					}
				}
				if len(bad) > 0 {
					return "users/required/enrolled/pending: " + strings.Join(bad, "; "), false
				}
				return fmt.Sprintf("%d user types, users/required/enrolled/pending exact", len(rows)), true
			}},
	}
	var out []queryResult
	for _, q := range qs {
		l, d, err := timeQuery(c, token, q.query, q.vars, runs, 15*time.Second)
		if err != nil {
			out = append(out, queryResult{name: q.name, check: "error: " + err.Error()})
			continue
		}
		check, ok := q.check(d, q.root)
		out = append(out, queryResult{name: q.name, l: l, check: check, correct: ok})
	}
	return out, nil
}

// sampleRSS records the largest resident set of pid while a load runs,
// as r.rss[name]; the returned func stops it.
func sampleRSS(pid int, r *result, name string) func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		top := 0.0
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if rss, _ := memOf(pid); rss > top {
				top = rss
			}
			select {
			case <-stop:
				r.rss[name] = [2]float64{top, top}
				return
			case <-tick.C:
			}
		}
	})
	return func() { close(stop); wg.Wait() }
}
