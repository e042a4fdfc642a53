package mfa_test

import (
	"context"
	"crypto/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

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

// The hash an unknown user's login is checked against costs what a real
// user's does: the configured argon2id parameters, the same salt and key
// lengths.
func TestDummyHashHasTheConfiguredCost(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, url string) {
		ctx := context.Background()
		store, err := models.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		ring, _ := mfa.NewKeyring(make([]byte, 32))
		for name, cfg := range map[string]mfa.PasswordConfig{
			"default": {},
			"custom":  {MemoryKiB: 96, Iterations: 3, Parallelism: 2, MinLength: 12, MaxLength: 256},
		} {
			t.Run(name, func(t *testing.T) {
				svc, err := mfa.New(store, mfa.Config{Password: cfg}, mfa.WithKeyring(ring))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := svc.Bootstrap(ctx, name, "admin", "admin-password-1"); err != nil {
					t.Fatal(err)
				}
				org, _ := store.OrganizationBySlug(ctx, name)
				admin, _ := store.UserByLogin(ctx, org.ID, "admin")
				real, realSalt, realKey, err := argon2id.DecodeHash(admin.PasswordHash)
				if err != nil {
					t.Fatal(err)
				}
				dummy, salt, key, err := argon2id.DecodeHash(svc.DummyHash())
				if err != nil {
					t.Fatalf("dummy hash %q: %v", svc.DummyHash(), err)
				}
				want := cfg
				if want.MemoryKiB == 0 {
					want = mfa.DefaultPasswordConfig
				}
				if dummy.Memory != want.MemoryKiB || dummy.Iterations != want.Iterations || dummy.Parallelism != want.Parallelism {
					t.Errorf("dummy hash cost m=%d t=%d p=%d, configured m=%d t=%d p=%d",
						dummy.Memory, dummy.Iterations, dummy.Parallelism, want.MemoryKiB, want.Iterations, want.Parallelism)
				}
				if *dummy != *real || len(salt) != len(realSalt) || len(key) != len(realKey) {
					t.Errorf("dummy hash %+v (salt %d, key %d) differs from a user's %+v (salt %d, key %d)",
						*dummy, len(salt), len(key), *real, len(realSalt), len(realKey))
				}
			})
		}
	})
}

// A login naming an unknown user or organization does the argon2id work a
// wrong password for a real user does. The cost is high enough here that a
// skipped hash shows as a fraction of the time (the statistical, 10 % test
// against a real server is in e2e).
func TestUnknownUserLoginCostsAHash(t *testing.T) {
	ctx := context.Background()
	store, err := models.Open(ctx, "sqlite://"+t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ring, _ := mfa.NewKeyring(make([]byte, 32))
	svc, err := mfa.New(store, mfa.Config{Password: mfa.PasswordConfig{MemoryKiB: 8 * 1024, Iterations: 4, Parallelism: 1, MinLength: 12, MaxLength: 256}, MaxFailedAttempts: 1000, AuthRatePerMinute: -1},
		mfa.WithKeyring(ring))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx, "acme", "admin", "admin-password-1"); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]mfa.LoginRequest{
		"known user":   {Organization: "acme", Username: "admin", Password: "wrong-password-1"},
		"unknown user": {Organization: "acme", Username: "nobody", Password: "wrong-password-1"},
		"unknown org":  {Organization: "nowhere", Username: "admin", Password: "wrong-password-1"},
	}
	times := map[string][]time.Duration{}
	for range 9 {
		for name, req := range kinds {
			start := time.Now()
			if res, err := svc.Login(ctx, req); err == nil {
				t.Fatalf("%s: logged in: %+v", name, res)
			}
			times[name] = append(times[name], time.Since(start))
		}
	}
	median := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	known := median(times["known user"])
	for _, name := range []string{"unknown user", "unknown org"} {
		if m := median(times[name]); m < known/2 {
			t.Errorf("%s: median %v, a known user's wrong password %v: the hash was skipped", name, m, known)
		}
	}
}
