package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/twofoldauth/twofold/graph"
	"github.com/twofoldauth/twofold/mfa"
)

const (
	sessionCookie        = "twofold_session"
	trustedBrowserCookie = "twofold_trusted_browser"
	maxBodyBytes         = 1 << 20
)

// withClient records the caller's address and user agent (for audit and
// rate limits), believing X-Forwarded-For only from trusted proxies.
func (s *Server) withClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := mfa.WithClient(r.Context(), mfa.Client{IP: s.clientIP(r), UserAgent: r.UserAgent()})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// clientIP is the connection's address or, when that is a trusted proxy,
// the right-most address in X-Forwarded-For that is not a trusted proxy
// (addresses left of it could be forged by the client).
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !s.trusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			break
		}
		if host = hop; !s.trusted(hop) {
			break
		}
	}
	return host
}

func (s *Server) trusted(ip string) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// secure reports whether the client's connection is TLS, directly or (from
// a trusted proxy) as X-Forwarded-Proto says.
func (s *Server) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return s.trusted(host) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// withCORS lets the allowed origins call the API with credentials.
func (s *Server) withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(s.cfg.AllowedOrigins, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			if r.Method == http.MethodOptions {
				// GET /graphql is not served (405): only POST is advertised.
				h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
				h.Set("Access-Control-Max-Age", "600")
			}
		}
		next.ServeHTTP(w, r)
	})
}

// withSession resolves the viewer from a bearer token or the session
// cookie and applies the CSRF rule: a request that carries our cookie, or
// comes from a browser page (has an Origin) without a bearer token, must be
// JSON from an allowed origin. Bearer requests without a cookie are not
// subject to it: a browser cannot be made to attach a bearer token, and
// without our cookie there is no ambient credential to abuse.
func (s *Server) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The request id on this writer too: errors written here carry it
		// (withDeadline hands a buffer, not the writer withRequestLog saw).
		w.Header().Set(RequestIDHeader, RequestIDFrom(r.Context()))
		bearer := bearerToken(r)
		cookie, _ := r.Cookie(sessionCookie)
		if r.Method == http.MethodPost {
			if (cookie != nil || (bearer == "" && r.Header.Get("Origin") != "")) && !s.sameOriginJSON(r) {
				writeGraphQLError(w, http.StatusForbidden, mfa.CodeForbidden, "cross-site request refused: send JSON from an allowed origin")
				return
			}
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
				writeGraphQLError(w, http.StatusUnsupportedMediaType, mfa.CodeBadUserInput, "send the request as Content-Type: application/json")
				return
			}
			if !readBody(w, r) {
				return
			}
		}
		token := bearer
		if token == "" && cookie != nil {
			token = cookie.Value
		}
		jar := &cookieJar{w: w, r: r, secure: s.secure(r)}
		req := &graph.Request{Cookies: jar}
		if op := s.service.AuthenticateOperator(bearer); op != nil {
			// An operator's token: no organization user's session.
			req.Operator, token = op, ""
		}
		if token != "" {
			v, err := s.service.Authenticate(r.Context(), token)
			switch {
			case err == nil:
				req.Viewer = v
			case bearer == "" && isUnauthenticated(err):
				jar.ClearSession() // a stale cookie: drop it
			case errors.Is(err, mfa.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
				s.log.WarnContext(r.Context(), "session lookup: database unavailable", "err", err)
				writeGraphQLError(w, http.StatusServiceUnavailable, mfa.CodeUnavailable, "the service is temporarily unavailable; try again")
				return
			case !isUnauthenticated(err):
				s.log.ErrorContext(r.Context(), "session lookup", "err", err)
				writeGraphQLError(w, http.StatusInternalServerError, mfa.CodeInternal, "internal error")
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(graph.WithRequest(r.Context(), req)))
	})
}

// readBody reads a POST body of at most maxBodyBytes into memory, so that a
// larger one gets a 413 answer with a GraphQL error instead of a connection
// reset while the client is still sending. It reports whether the request
// may go on.
func readBody(w http.ResponseWriter, r *http.Request) bool {
	tooLarge := func() bool {
		// The rest of the body is not read: close the connection after
		// the answer rather than drain it.
		w.Header().Set("Connection", "close")
		writeGraphQLError(w, http.StatusRequestEntityTooLarge, mfa.CodeBadUserInput,
			fmt.Sprintf("the request is too large (more than %d bytes)", maxBodyBytes))
		return false
	}
	if r.ContentLength > maxBodyBytes {
		return tooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return tooLarge()
	case err != nil:
		writeGraphQLError(w, http.StatusBadRequest, mfa.CodeBadUserInput, "the request body could not be read")
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}

func (s *Server) sameOriginJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return false
	}
	// The server's own pages (/playground, /demo) are always allowed.
	return slices.Contains(s.cfg.AllowedOrigins, r.Header.Get("Origin")) || s.ownOrigin(r)
}

func isUnauthenticated(err error) bool {
	e, ok := err.(*mfa.Error)
	return ok && e.Code == mfa.CodeUnauthenticated
}

func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// writeGraphQLError answers with one GraphQL error, with the request id
// (from the X-Request-Id answer header) in its extensions.
func writeGraphQLError(w http.ResponseWriter, status int, code mfa.Code, msg string) {
	ext := map[string]any{"code": code}
	if id := w.Header().Get(RequestIDHeader); id != "" {
		ext["requestId"] = id
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []any{map[string]any{"message": msg, "extensions": ext}},
	})
}

// cookieJar implements graph.Cookies for one request.
type cookieJar struct {
	w      http.ResponseWriter
	r      *http.Request
	secure bool
}

func (j *cookieJar) set(name, value string, expires time.Time) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: j.secure, SameSite: http.SameSiteLaxMode}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	http.SetCookie(j.w, c)
}

func (j *cookieJar) SetSession(token string, expires time.Time) { j.set(sessionCookie, token, expires) }
func (j *cookieJar) ClearSession()                              { j.set(sessionCookie, "", time.Time{}) }
func (j *cookieJar) SetTrustedBrowser(token string, expires time.Time) {
	j.set(trustedBrowserCookie, token, expires)
}
func (j *cookieJar) TrustedBrowser() string {
	if c, err := j.r.Cookie(trustedBrowserCookie); err == nil {
		return c.Value
	}
	return ""
}
