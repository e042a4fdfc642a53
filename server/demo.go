package server

import (
	_ "embed"
	"net/http"
)

// demoPage is /demo: a single static page showing how an SPA uses Twofold
// (password login, second factor, passkey and TOTP enrolment, passkey
// sign-in), all through /graphql.
//
//go:embed demo/index.html
var demoPage []byte

func serveDemo(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:")
	h.Set("X-Frame-Options", "DENY")
	_, _ = w.Write(demoPage)
}
