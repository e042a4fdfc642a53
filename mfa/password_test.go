package mfa_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/models"
	"github.com/twofoldauth/twofold/models/modelstest"
)

func TestPasswordRehashedWhenParametersChange(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		store, err := models.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		ring, _ := mfa.NewKeyring(key)
		svc := func(memKiB uint32) *mfa.Service {
			s, err := mfa.New(store, mfa.Config{Password: mfa.PasswordConfig{MemoryKiB: memKiB, Iterations: 1, Parallelism: 1, MinLength: 12, MaxLength: 256}},
				mfa.WithKeyring(ring), mfa.WithClock(fixedClock{time.Now().UTC()}))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		if _, err := svc(64).Bootstrap(ctx, "acme", "admin", "admin-password-1"); err != nil {
			t.Fatal(err)
		}
		org, _ := store.OrganizationBySlug(ctx, "acme")
		before, _ := store.UserByLogin(ctx, org.ID, "admin")
		if !strings.Contains(before.PasswordHash, "$argon2id$v=19$m=64,") {
			t.Fatalf("hash %q", before.PasswordHash)
		}
		res, err := svc(128).Login(ctx, mfa.LoginRequest{Organization: "acme", Username: "admin", Password: "admin-password-1"})
		if err != nil || res.Status != mfa.StatusAuthenticated {
			t.Fatalf("login: %v %v", res, err)
		}
		after, _ := store.UserByLogin(ctx, org.ID, "admin")
		if !strings.Contains(after.PasswordHash, "$argon2id$v=19$m=128,") {
			t.Fatalf("not rehashed with the new parameters: %q", after.PasswordHash)
		}
		// A wrong password does not rehash anything.
		if _, err := svc(256).Login(ctx, mfa.LoginRequest{Organization: "acme", Username: "admin", Password: "wrong-password-1"}); err == nil {
			t.Fatal("wrong password accepted")
		}
		if u, _ := store.UserByLogin(ctx, org.ID, "admin"); u.PasswordHash != after.PasswordHash {
			t.Fatal("a failed login changed the hash")
		}
	})
}

// BenchmarkLogin is one password login (argon2id at the default cost:
// 19 MiB, t=2) with its session, on SQLite.
func BenchmarkLogin(b *testing.B) {
	ctx := context.Background()
	store, err := models.Open(ctx, "sqlite://"+b.TempDir()+"/db")
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	key := make([]byte, 32)
	ring, _ := mfa.NewKeyring(key)
	svc, _ := mfa.New(store, mfa.Config{}, mfa.WithKeyring(ring))
	if _, err := svc.Bootstrap(ctx, "acme", "admin", "admin-password-1"); err != nil {
		b.Fatal(err)
	}
	b.Run("password", func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.Login(ctx, mfa.LoginRequest{Organization: "acme", Username: "admin", Password: "admin-password-1"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	res, _ := svc.Login(ctx, mfa.LoginRequest{Organization: "acme", Username: "admin", Password: "admin-password-1"})
	b.Run("authenticate-session", func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.Authenticate(ctx, res.Token); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestPurgeExpired(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		store, err := models.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		key := make([]byte, 32)
		ring, _ := mfa.NewKeyring(key)
		clock := &movingClock{t: time.Now().UTC().Truncate(time.Millisecond)}
		svc, _ := mfa.New(store, mfa.Config{Password: mfa.PasswordConfig{MemoryKiB: 64, Iterations: 1, Parallelism: 1, MinLength: 12, MaxLength: 256}},
			mfa.WithKeyring(ring), mfa.WithClock(clock))
		svc.Bootstrap(ctx, "acme", "admin", "admin-password-1")
		login := func() string {
			res, err := svc.Login(ctx, mfa.LoginRequest{Organization: "acme", Username: "admin", Password: "admin-password-1"})
			if err != nil {
				t.Fatal(err)
			}
			return res.Token
		}
		old := login()
		clock.t = clock.t.Add(50 * time.Minute)
		fresh := login()
		clock.t = clock.t.Add(20 * time.Minute) // old is idle 70 min, fresh 20
		n, err := svc.PurgeExpired(ctx)
		if err != nil || n != 1 {
			t.Fatalf("purged %d rows (%v), want 1", n, err)
		}
		if _, err := svc.Authenticate(ctx, fresh); err != nil {
			t.Fatalf("live session purged: %v", err)
		}
		if _, err := svc.Authenticate(ctx, old); err == nil {
			t.Fatal("idle session still valid")
		}
	})
}

type movingClock struct{ t time.Time }

func (c *movingClock) Now() time.Time { return c.t }
