package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twofoldauth/twofold/mfa"
)

// DefaultRequestTimeout bounds a GraphQL request's work on the server,
// below the HTTP write timeout (30 s), so a client gets an answer.
const DefaultRequestTimeout = 10 * time.Second

// withDeadline gives the request's context a deadline
// (TWOFOLD_REQUEST_TIMEOUT). Every statement runs with that context, so a
// request stuck behind a lock or a slow database is cancelled at the
// deadline: its open transaction is rolled back (database/sql does so when
// the context ends, and a commit after it fails), and it answers
// UNAVAILABLE (the error presenter's mapping of context.DeadlineExceeded)
// instead of running on after the client gave up or was cut off.
//
// Not every wait heeds the context (SQLite's busy wait does not), so the
// answer is buffered, and a handler still running shortly after the
// deadline is left to finish on its own: the client gets UNAVAILABLE then.
func (s *Server) withDeadline(next http.Handler) http.Handler {
	timeout := s.cfg.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		bw := &bufferedResponse{header: http.Header{}}
		done := make(chan any, 1)
		go func() {
			defer func() { done <- recover() }()
			next.ServeHTTP(bw, r.WithContext(ctx))
		}()
		select {
		case p := <-done:
			if p != nil {
				panic(p)
			}
			bw.flushTo(w)
			return
		case <-ctx.Done():
		}
		// A handler that heeds the context answers in a moment, with its
		// own error; give it that moment.
		grace := time.NewTimer(deadlineGrace)
		defer grace.Stop()
		select {
		case p := <-done:
			if p != nil {
				panic(p)
			}
			bw.flushTo(w)
		case <-grace.C:
			s.log.Warn("request ran past its deadline: answered UNAVAILABLE, left to finish", "timeout", timeout)
			go func() {
				if p := <-done; p != nil {
					s.log.Error("panic in a request past its deadline", "panic", p)
				}
			}()
			writeGraphQLError(w, http.StatusServiceUnavailable, mfa.CodeUnavailable, "the request timed out; try again")
		}
	})
}

// deadlineGrace is how long past its deadline a request may take to answer
// with its own error.
const deadlineGrace = 100 * time.Millisecond

// bufferedResponse holds a handler's answer until it is complete.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

func (b *bufferedResponse) flushTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}

// readScaleConfig reads the settings of the scale issue: the request
// deadline and the audit retention.
func readScaleConfig(r *envReader, c *Config) {
	c.RequestTimeout = r.duration("TWOFOLD_REQUEST_TIMEOUT", DefaultRequestTimeout)
	if v := strings.TrimSpace(r.get("TWOFOLD_AUDIT_RETENTION")); v != "" {
		d, err := parseRetention(v)
		if err != nil {
			r.fail("TWOFOLD_AUDIT_RETENTION", "%v", err)
		}
		c.MFA.AuditRetention = d
	}
}

// parseRetention reads a duration as Go writes it (2160h) or a number of
// days (90d). "forever" (or 0) keeps everything.
func parseRetention(v string) (time.Duration, error) {
	if v == "0" || strings.EqualFold(v, "forever") {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 100*366 {
			return 0, fmt.Errorf("must be a number of days like 90d, a duration like 2160h, or forever; got %q", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("must be a number of days like 90d, a duration like 2160h, or forever; got %q", v)
	}
	return d, nil
}
