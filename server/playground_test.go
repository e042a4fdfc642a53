package server

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestOwnOrigin: the server's own origin is the scheme the client used
// (TLS, or https from a trusted proxy) and the Host it asked for, or the
// public URL's; nothing else passes for it.
func TestOwnOrigin(t *testing.T) {
	s := &Server{cfg: Config{
		PublicURL:      "https://mfa.example.com",
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")},
	}}
	cases := map[string]struct {
		remote, host, origin, proto string
		want                        bool
	}{
		"same host over http":               {"192.0.2.1:5000", "127.0.0.1:8080", "http://127.0.0.1:8080", "", true},
		"same host, other port":             {"192.0.2.1:5000", "127.0.0.1:8080", "http://127.0.0.1:9090", "", false},
		"https origin on a plain request":   {"192.0.2.1:5000", "mfa.internal:8080", "https://mfa.internal:8080", "", false},
		"https from a trusted proxy":        {"10.0.0.1:5000", "mfa.internal:8080", "https://mfa.internal:8080", "https", true},
		"https claimed by an untrusted hop": {"192.0.2.1:5000", "mfa.internal:8080", "https://mfa.internal:8080", "https", false},
		"the public URL":                    {"10.0.0.1:5000", "backend:8080", "https://mfa.example.com", "https", true},
		"the public URL over http":          {"10.0.0.1:5000", "backend:8080", "http://mfa.example.com", "", false},
		"a foreign page":                    {"192.0.2.1:5000", "127.0.0.1:8080", "https://evil.example", "", false},
		"a look-alike host":                 {"192.0.2.1:5000", "127.0.0.1:8080", "http://127.0.0.1:8080.evil.example", "", false},
		"no origin":                         {"192.0.2.1:5000", "127.0.0.1:8080", "", "", false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/graphql", nil)
			r.RemoteAddr, r.Host = c.remote, c.host
			if c.origin != "" {
				r.Header.Set("Origin", c.origin)
			}
			if c.proto != "" {
				r.Header.Set("X-Forwarded-Proto", c.proto)
			}
			if got := s.ownOrigin(r); got != c.want {
				t.Fatalf("ownOrigin = %v, want %v", got, c.want)
			}
		})
	}
}

// TestPlaygroundFilesEmbedded: every file the page names is embedded, with
// the licences of the bundles.
func TestPlaygroundFilesEmbedded(t *testing.T) {
	p := newPlayground()
	for _, name := range []string{"index.html", "playground.js", "assets/graphiql.min.js", "assets/graphiql.min.css",
		"assets/react.production.min.js", "assets/react-dom.production.min.js",
		"assets/LICENSE.graphiql", "assets/LICENSE.react", "assets/LICENSE.react-dom", "assets/README.md"} {
		if a := p.assets[name]; a == nil || len(a.body) == 0 {
			t.Errorf("%s is not embedded", name)
		}
	}
}
