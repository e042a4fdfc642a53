package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultRequestTimeout bounds a GraphQL request's work on the server,
// below the HTTP write timeout (30 s), so a client gets an answer.
const DefaultRequestTimeout = 10 * time.Second

// withDeadline gives the request's context a deadline
// (TWOFOLD_REQUEST_TIMEOUT). Every statement runs with that context, so a
// request stuck behind a lock or a slow database is cancelled at the
// deadline: its open transaction is rolled back, and it answers
// UNAVAILABLE (the error presenter's mapping of context.DeadlineExceeded)
// instead of running on after the client gave up or was cut off.
func (s *Server) withDeadline(next http.Handler) http.Handler {
	timeout := s.cfg.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
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
