package models

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models/modelstest"
)

type sqliteCode int

func (c sqliteCode) Error() string { return fmt.Sprintf("sqlite error %d", int(c)) }
func (c sqliteCode) Code() int     { return int(c) }

func TestClassify(t *testing.T) {
	cases := map[string]struct {
		err         error
		unavailable bool
	}{
		"bad connection":       {fmt.Errorf("query: %w", driver.ErrBadConn), true},
		"mysql conn dropped":   {mysqldrv.ErrInvalidConn, true},
		"connection refused":   {&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, true},
		"pool closed":          {errors.New("sql: database is closed"), true},
		"too many connections": {&mysqldrv.MySQLError{Number: 1040, Message: "Too many connections"}, true},
		"server shutdown":      {&mysqldrv.MySQLError{Number: 1053, Message: "Server shutdown in progress"}, true},
		"sqlite busy":          {sqliteCode(5), true},
		"sqlite busy recovery": {sqliteCode(5 | 1<<8), true},
		"sqlite cannot open":   {sqliteCode(14), true},
		"duplicate key":        {&mysqldrv.MySQLError{Number: 1062, Message: "Duplicate entry"}, false},
		"sqlite constraint":    {sqliteCode(19), false},
		"not found":            {gorm.ErrRecordNotFound, false},
		"domain error":         {mfa.ErrStale, false},
		"syntax":               {errors.New("near \"SELEC\": syntax error"), false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := classify(tc.err)
			if errors.Is(got, mfa.ErrUnavailable) != tc.unavailable {
				t.Fatalf("classify(%v) = %v, unavailable want %v", tc.err, got, tc.unavailable)
			}
			if !errors.Is(got, tc.err) && got != tc.err {
				t.Fatalf("classify lost the driver error: %v", got)
			}
			if again := classify(got); again != got {
				t.Fatalf("classify twice wrapped twice: %v", again)
			}
		})
	}
	if classify(nil) != nil {
		t.Fatal("classify(nil) is not nil")
	}
}

// TestStatementsReportAnUnavailableDatabase: once the pool is closed, every
// kind of statement fails with mfa.ErrUnavailable.
func TestStatementsReportAnUnavailableDatabase(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		s, err := Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if err := classifyErrors(s.db); err != nil {
			t.Fatal(err)
		}
		s.Close()
		checkUnavailable(t, s)
	})
}

// TestMySQLOutageIsUnavailable cuts the network between the store and
// MariaDB: open connections are reset and new ones refused.
func TestMySQLOutageIsUnavailable(t *testing.T) {
	if !strings.Contains(strings.Join(modelstest.Dialects(t), ","), "mysql") {
		t.Skip("needs TWOFOLD_TEST_MYSQL_DSN")
	}
	url := modelstest.NewURL(t, "mysql")
	cfg, err := mysqldrv.ParseDSN(strings.TrimPrefix(url, "mysql://"))
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, cfg.Addr)
	cfg.Addr = p.addr()
	ctx := context.Background()
	s, err := Open(ctx, "mysql://"+cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := classifyErrors(s.db); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OrganizationBySlug(ctx, "nobody"); !errors.Is(err, mfa.ErrNotFound) {
		t.Fatalf("before the outage: %v", err)
	}
	p.cut()
	checkUnavailable(t, s)
}

func checkUnavailable(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	calls := map[string]func() error{
		"query": func() error { _, err := s.OrganizationBySlug(ctx, "demo"); return err },
		"create": func() error {
			return s.CreateOrganization(ctx, &mfa.Organization{ID: "0193f000-0000-7000-8000-000000000001", Slug: "x", Name: "x"})
		},
		"update": func() error { return s.DeleteUserTrustedBrowsers(ctx, "nobody") },
		"pluck":  func() error { _, err := s.SealKeyIDs(ctx, mfa.Organization{}.CreatedAt); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, mfa.ErrUnavailable) {
			t.Errorf("%s with the database down: %v, want mfa.ErrUnavailable", name, err)
		}
	}
}

// proxy forwards TCP connections to a server until cut.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	t.Cleanup(p.cut)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// cut closes the listener (new connections are refused) and every
// connection it carried.
func (p *proxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
