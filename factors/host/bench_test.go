package host_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/host"
	"github.com/twofoldauth/twofold/plugins/totp/totpfactor"
)

// BenchmarkFinishVerification measures one TOTP verification through the
// real plugin process (go-plugin gRPC with AutoMTLS, tracing off as the
// server runs it without OTEL_* settings) and in-process, for a call that
// serves a user (the host mints a grant for it). Besides ns/op it reports
// the latency's p50 and p99 and, for the plugin, the CPU time per call of
// the host (this process) and of the plugin process. The target:
// p50 under 100 µs through the plugin.
func BenchmarkFinishVerification(b *testing.B) {
	ctx := context.Background()
	registries := []struct {
		name string
		r    *host.Registry
	}{
		{"plugin", start(b, host.Config{Dir: pluginDir(b, "totp"), TracerProvider: tracenoop.NewTracerProvider()})},
		{"inprocess", host.NewStatic(totpfactor.New())},
	}
	for _, reg := range registries {
		b.Run(reg.name, func(b *testing.B) {
			f := factor(b, reg.r, "totp")
			user := factors.User{ID: "u", Name: "bench"}
			begin, err := f.BeginEnrollment(ctx, &factors.BeginEnrollmentRequest{User: user})
			if err != nil {
				b.Fatal(err)
			}
			var cd totpfactor.ClientData
			if err := json.Unmarshal(begin.ClientData, &cd); err != nil {
				b.Fatal(err)
			}
			body, _ := json.Marshal(totpfactor.Response{Code: totpfactor.Code(cd.Secret, time.Now())})
			// The pending state records no used step, so the same code
			// verifies on every call: the whole successful path (decode,
			// HMAC over the skew window, compare, new state).
			req := &factors.FinishVerificationRequest{User: user, Credential: factors.Credential{State: begin.PendingState}, Response: body}
			pid := reg.r.PID("totp")
			lat := make([]time.Duration, 0, b.N)
			hostCPU, pluginCPU := cpuSelf(), cpuOf(pid)
			for b.Loop() {
				t0 := time.Now()
				if _, err := f.FinishVerification(ctx, req); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			n := float64(len(lat))
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			b.ReportMetric(float64((cpuSelf()-hostCPU).Nanoseconds())/n, "host-cpu-ns/op")
			if pid != 0 {
				b.ReportMetric(float64((cpuOf(pid)-pluginCPU).Nanoseconds())/n, "plugin-cpu-ns/op")
			}
		})
	}
}

// cpuSelf is this process's user and system CPU time so far.
func cpuSelf() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuOf is the user and system CPU time of process pid so far, from
// /proc/PID/stat (clock ticks of 10 ms on Linux); 0 elsewhere.
func cpuOf(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces) in ")".
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
