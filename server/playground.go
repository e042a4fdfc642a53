package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
)

// playgroundFiles are the Playground page, its script and the GraphiQL and
// React bundles (server/playground/assets/README.md lists their versions;
// `make playground-assets` refreshes them from the npm registry). Nothing
// the page loads comes from anywhere but this server.
//
//go:embed playground/index.html playground/playground.js playground/assets
var playgroundFiles embed.FS

// playgroundCSP keeps the page on its own origin: scripts and requests go
// to this server only; GraphiQL's fonts and icons are data: URLs and its
// components set inline styles.
const playgroundCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// playgroundAsset is one embedded file, with its gzip form made on first
// use (the GraphiQL bundle is 3.5 MB, under 1 MB compressed).
type playgroundAsset struct {
	body        []byte
	contentType string
	etag        string
	once        sync.Once
	gz          []byte
}

func (a *playgroundAsset) gzipped() []byte {
	a.once.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(a.body)
		_ = zw.Close()
		a.gz = buf.Bytes()
	})
	return a.gz
}

// playground serves /playground (GraphiQL) and its files to everyone, in
// and outside dev mode: it is a static page, and /graphql decides what each
// caller may do (introspection included: see graph.NewHandler).
type playground struct {
	assets map[string]*playgroundAsset // by path under playground/
}

func newPlayground() *playground {
	p := &playground{assets: map[string]*playgroundAsset{}}
	err := fs.WalkDir(playgroundFiles, "playground", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := playgroundFiles.ReadFile(name)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" || strings.HasPrefix(path.Base(name), "LICENSE") {
			ct = "text/plain; charset=utf-8"
		}
		sum := sha256.Sum256(body)
		p.assets[strings.TrimPrefix(name, "playground/")] = &playgroundAsset{body: body, contentType: ct,
			etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("server: embedded playground files: " + err.Error()) // a build problem, not a runtime one
	}
	return p
}

func (p *playground) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /playground", func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, "index.html") })
	mux.HandleFunc("GET /playground/playground.js", func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, "playground.js") })
	mux.HandleFunc("GET /playground/assets/{file}", func(w http.ResponseWriter, r *http.Request) {
		p.serve(w, r, "assets/"+r.PathValue("file"))
	})
}

func (p *playground) serve(w http.ResponseWriter, r *http.Request, name string) {
	a := p.assets[name]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Security-Policy", playgroundCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	// Revalidated after an hour: an upgrade changes the files, not their
	// names.
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("ETag", a.etag)
	h.Add("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if len(body) > 1024 && acceptsGzip(r) {
		body = a.gzipped()
		h.Set("Content-Encoding", "gzip")
	}
	_, _ = w.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// ownOrigin reports whether the request's Origin is this server's own
// (the scheme it was reached by and its Host), as for the Playground and
// /demo pages it serves. Such a request is same-origin, never cross-site:
// a page elsewhere cannot send this Origin, and a page on a name that
// merely resolves here (DNS rebinding) carries no cookie of ours.
func (s *Server) ownOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || r.Host == "" {
		return false
	}
	scheme := "http"
	if s.secure(r) {
		scheme = "https"
	}
	if strings.EqualFold(origin, scheme+"://"+r.Host) {
		return true
	}
	// Behind a proxy that sets its own Host, the public URL is the page's
	// origin.
	if s.cfg.PublicURL != "" {
		if u, err := url.Parse(s.cfg.PublicURL); err == nil && u.Host != "" && strings.EqualFold(origin, u.Scheme+"://"+u.Host) {
			return true
		}
	}
	return false
}
