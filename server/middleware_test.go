package server

import (
	"crypto/tls"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIPAndSecureBehindTrustedProxies(t *testing.T) {
	s := &Server{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	cases := map[string]struct {
		remote, xff, proto string
		wantIP             string
		wantSecure         bool
	}{
		"direct client":             {"203.0.113.9:5000", "", "", "203.0.113.9", false},
		"direct client forges xff":  {"203.0.113.9:5000", "1.2.3.4", "https", "203.0.113.9", false},
		"via trusted proxy":         {"10.1.2.3:443", "198.51.100.7", "https", "198.51.100.7", true},
		"client prepends a forgery": {"10.1.2.3:443", "1.2.3.4, 198.51.100.7", "http", "198.51.100.7", false},
		"two trusted hops":          {"10.1.2.3:443", "198.51.100.7, 10.9.9.9", "https", "198.51.100.7", true},
		"garbage in xff":            {"10.1.2.3:443", "not-an-ip", "", "10.1.2.3", false},
		"ipv6 trusted proxy":        {"[::1]:443", "2001:db8::5", "https", "2001:db8::5", true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/graphql", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if tc.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			if got := s.clientIP(r); got != tc.wantIP {
				t.Errorf("client IP %s, want %s", got, tc.wantIP)
			}
			if got := s.secure(r); got != tc.wantSecure {
				t.Errorf("secure %v, want %v", got, tc.wantSecure)
			}
		})
	}
	r := httptest.NewRequest("POST", "/graphql", nil)
	r.TLS = &tls.ConnectionState{}
	if !s.secure(r) {
		t.Error("a TLS connection is secure")
	}
}
