package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twofoldauth/twofold/mfa"
)

// IntrospectionClient is a backend allowed to call POST /introspect: its
// client id and the SHA-256 of its secret (the secret itself is not
// configured anywhere but in the backend).
type IntrospectionClient struct {
	ID           string
	SecretSHA256 [sha256.Size]byte
}

// readAssertionConfig reads the session assertion and introspection
// variables into c.
func readAssertionConfig(r *envReader, c *Config) {
	c.PublicURL = strings.TrimRight(r.str("TWOFOLD_PUBLIC_URL", ""), "/")
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.fail("TWOFOLD_PUBLIC_URL", "%q is not a URL like https://mfa.example.com", c.PublicURL)
		}
	}
	c.MFA.Assertion = mfa.AssertionConfig{
		Issuer:      assertionIssuer(c.PublicURL, c.HTTPAddr),
		TTL:         r.duration("TWOFOLD_ASSERTION_TTL", mfa.DefaultAssertionTTL),
		KeyRotation: r.duration("TWOFOLD_ASSERTION_KEY_ROTATION", mfa.DefaultAssertionKeyRotation),
	}
	if c.MFA.Assertion.TTL > maxAssertionTTL {
		r.fail("TWOFOLD_ASSERTION_TTL", "must be at most %s: an assertion cannot be revoked", maxAssertionTTL)
	}
	if c.MFA.Assertion.KeyRotation < minKeyRotation {
		r.fail("TWOFOLD_ASSERTION_KEY_ROTATION", "must be at least %s", minKeyRotation)
	}
	clients, err := ParseIntrospectionClients(r.get("TWOFOLD_INTROSPECTION_CLIENTS"))
	if err != nil {
		r.fail("TWOFOLD_INTROSPECTION_CLIENTS", "%v", err)
	}
	c.IntrospectionClients = clients
}

// Bounds of the assertion settings.
const (
	maxAssertionTTL = time.Hour
	minKeyRotation  = time.Hour
)

// assertionIssuer is the iss of assertions: the public URL, or else the
// listen address's URL (a loopback address named localhost).
func assertionIssuer(publicURL, addr string) string {
	if publicURL != "" {
		return publicURL
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified())) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// ParseIntrospectionClients reads "id:sha256hex,..." pairs.
func ParseIntrospectionClients(v string) ([]IntrospectionClient, error) {
	var out []IntrospectionClient
	seen := map[string]bool{}
	for i, pair := range strings.Split(v, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		id, hexSum, ok := strings.Cut(pair, ":")
		sum, err := hex.DecodeString(hexSum)
		if !ok || id == "" || err != nil || len(sum) != sha256.Size {
			// The value is not repeated: it may be a secret put there by mistake.
			return nil, fmt.Errorf("entry %d is not client-id:sha256-hex-of-secret (64 hex digits)", i+1)
		}
		if seen[id] {
			return nil, fmt.Errorf("client %q is listed twice", id)
		}
		seen[id] = true
		c := IntrospectionClient{ID: id}
		copy(c.SecretSHA256[:], sum)
		out = append(out, c)
	}
	return out, nil
}

// assertionRoutes serves the key set that verifies session assertions and
// the introspection endpoint.
func (s *Server) assertionRoutes(mux *http.ServeMux) {
	mux.Handle("GET /.well-known/jwks.json", s.metrics.instrument("jwks", http.HandlerFunc(s.jwks)))
	mux.Handle("POST /introspect", s.metrics.instrument("introspect", http.HandlerFunc(s.introspect)))
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	set, err := s.service.PublicKeys(r.Context())
	if err != nil {
		s.log.Error("jwks", "err", err)
		writeText(w, http.StatusServiceUnavailable, "signing keys unavailable")
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, set)
}

// introspect answers RFC 7662 requests from configured clients (HTTP Basic
// authentication). Any token that is not active is {"active": false}.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !s.introspectionClient(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="twofold introspection"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	res, err := s.service.Introspect(r.Context(), r.PostForm.Get("token"))
	if err != nil {
		s.log.Error("introspect", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// introspectionClient checks the request's client credentials against
// every configured client, in constant time for a given configuration.
func (s *Server) introspectionClient(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(secret))
	idSum := sha256.Sum256([]byte(id))
	match := 0
	for _, c := range s.cfg.IntrospectionClients {
		cid := sha256.Sum256([]byte(c.ID))
		match |= subtle.ConstantTimeCompare(idSum[:], cid[:]) & subtle.ConstantTimeCompare(sum[:], c.SecretSHA256[:])
	}
	return match == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
