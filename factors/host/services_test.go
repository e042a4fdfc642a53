package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/host"
)

// backend records deliveries; its clock stands still.
type backend struct {
	mu   sync.Mutex
	sent []string
	err  error
}

var backendNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func (b *backend) DeliverFactorMessage(_ context.Context, userID, factorType, subject, text string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	b.sent = append(b.sent, strings.Join([]string{userID, factorType, subject, text}, "|"))
	return nil
}

func (b *backend) Now() time.Time { return backendNow }

func (b *backend) deliveries() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.sent...)
}

func clientData(t *testing.T, raw json.RawMessage) map[string]string {
	t.Helper()
	var out map[string]string
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHostServicesActOnlyForTheServedUser(t *testing.T) {
	var out syncBuffer
	var metricsMu sync.Mutex
	metrics := map[string]float64{}
	r := start(t, host.Config{Dir: pluginDir(t, "messenger"), Logger: slog.New(slog.NewTextHandler(&out, nil)),
		Metric: func(factor, name string, v float64) {
			metricsMu.Lock()
			metrics[factor+"/"+name] += v
			metricsMu.Unlock()
		}})
	b := &backend{}
	r.SetBackend(b)
	f := factor(t, r, "messenger")
	ctx := context.Background()
	alice := factors.User{ID: "alice-id", Name: "alice"}

	res, err := f.BeginEnrollment(ctx, &factors.BeginEnrollmentRequest{User: alice})
	if err != nil {
		t.Fatal(err)
	}
	got := clientData(t, res.ClientData)
	for key, want := range map[string]string{
		"own": "ok", "other": "the current call serves another user", "empty": "invalid request",
		"log": "ok", "metric": "ok", "badmetric": "invalid request", "now": "2030-01-02T03:04:05Z",
	} {
		if !strings.Contains(got[key], want) {
			t.Errorf("%s: got %q, want %q", key, got[key], want)
		}
	}
	if !strings.Contains(got["other"], "host refused") {
		t.Errorf("other: %q is not a refusal", got["other"])
	}
	if d := b.deliveries(); len(d) != 1 || d[0] != "alice-id|messenger|Your code|code 123456" {
		t.Errorf("deliveries %q, want only alice's", d)
	}

	// A grant ends with its call: the kept call is refused later, and a
	// call that serves no user grants nothing.
	vres, err := f.BeginVerification(ctx, &factors.BeginVerificationRequest{User: alice})
	if err != nil {
		t.Fatal(err)
	}
	if got := clientData(t, vres.ClientData); !strings.Contains(got["stale"], "no call in progress grants") {
		t.Errorf("stale grant: %q", got["stale"])
	}
	vres, err = f.BeginVerification(ctx, &factors.BeginVerificationRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := clientData(t, vres.ClientData); !strings.Contains(got["unserved"], "serves no user") {
		t.Errorf("unserved call: %q", got["unserved"])
	}
	// Only the first BeginVerification's own delivery ("unserved" there is
	// alice's call) was added.
	if d := b.deliveries(); len(d) != 2 {
		t.Errorf("deliveries %q after refusals", d)
	}

	metricsMu.Lock()
	if metrics["messenger/codes_sent"] != 2 || len(metrics) != 1 {
		t.Errorf("metrics %v", metrics)
	}
	metricsMu.Unlock()
	eventually(t, "the plugin's log line", func() bool { return strings.Contains(out.String(), "hello from the plugin") })
	for l := range strings.Lines(out.String()) {
		if strings.Contains(l, "hello from the plugin") {
			for _, want := range []string{"level=WARN", "plugin=messenger", "factor=messenger", "user=alice-id"} {
				if !strings.Contains(l, want) {
					t.Errorf("log line %q lacks %q", l, want)
				}
			}
		}
	}
	if !strings.Contains(out.String(), "refused a message to a user the call does not serve") {
		t.Error("the refusal is not logged")
	}

	// The backend's refusals reach the plugin typed.
	b.err = factors.Errorf(factors.ErrRateLimited, "slow down")
	res, err = f.BeginEnrollment(ctx, &factors.BeginEnrollmentRequest{User: alice})
	if err != nil {
		t.Fatal(err)
	}
	if got := clientData(t, res.ClientData)["own"]; !strings.Contains(got, "too many messages") || !strings.Contains(got, "slow down") {
		t.Errorf("rate limited delivery: %q", got)
	}
	b.err = errors.New("database down")
	res, _ = f.BeginEnrollment(ctx, &factors.BeginEnrollmentRequest{User: alice})
	if got := clientData(t, res.ClientData)["own"]; !strings.Contains(got, "host service unavailable") || strings.Contains(got, "database") {
		t.Errorf("failed delivery: %q", got)
	}
}
