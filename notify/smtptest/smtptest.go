// Package smtptest is an SMTP server for tests: an in-process
// github.com/emersion/go-smtp listener on 127.0.0.1 with STARTTLS (or
// implicit TLS) and AUTH PLAIN, which collects every message it accepts and
// can go down and come back on the same address.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"

	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Credentials the sink accepts (AUTH PLAIN, only over TLS).
const (
	Username = "mailer"
	Password = "mailer-secret"
)

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	Raw  []byte
	// TLS and User say how the client delivered it.
	TLS  bool
	User string
}

// Option configures a Sink.
type Option func(*Sink)

// ImplicitTLS makes the sink speak TLS from the first byte (smtps://)
// instead of offering STARTTLS.
func ImplicitTLS() Option { return func(s *Sink) { s.implicit = true } }

// Sink is a running test SMTP server.
type Sink struct {
	t        testing.TB
	implicit bool
	tlsCfg   *tls.Config
	caFile   string
	caPool   *x509.CertPool
	addr     string

	mu     sync.Mutex
	srv    *smtp.Server
	ln     net.Listener
	msgs   []Message
	reject func(rcpt string) error
	wake   chan struct{} // closed and replaced on every accepted message
}

// New starts a sink on 127.0.0.1:0; it stops when the test ends.
func New(t testing.TB, opts ...Option) *Sink {
	t.Helper()
	s := &Sink{t: t, wake: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	certPEM, keyPEM := selfSigned(t)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	s.tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.caPool = x509.NewCertPool()
	s.caPool.AppendCertsFromPEM(certPEM)
	s.caFile = filepath.Join(t.TempDir(), "smtp-ca.pem")
	if err := os.WriteFile(s.caFile, certPEM, 0o600); err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Down)
	return s
}

func (s *Sink) serve(ln net.Listener) {
	srv := smtp.NewServer(&backend{s: s})
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 4 << 20
	if s.implicit {
		ln = tls.NewListener(ln, s.tlsCfg)
	} else {
		srv.TLSConfig = s.tlsCfg
	}
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Addr is host:port.
func (s *Sink) Addr() string { return s.addr }

// URL is a TWOFOLD_SMTP_URL for the sink, with its credentials:
// smtp:// (STARTTLS required) or smtps:// (implicit TLS).
func (s *Sink) URL() string {
	scheme := "smtp"
	if s.implicit {
		scheme = "smtps"
	}
	return (&url.URL{Scheme: scheme, User: url.UserPassword(Username, Password), Host: s.addr}).String()
}

// CAFile is the path of a PEM file holding the sink's self-signed
// certificate (a TWOFOLD_SMTP_CA_FILE).
func (s *Sink) CAFile() string { return s.caFile }

// CertPool trusts the sink's certificate.
func (s *Sink) CertPool() *x509.CertPool { return s.caPool }

// Down stops listening and drops open connections: clients get "connection
// refused" until Up.
func (s *Sink) Down() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		// Close the listener ourselves too: Serve may not have registered
		// it with the server yet.
		_ = ln.Close()
		_ = srv.Close()
	}
}

// Up listens again on the same address.
func (s *Sink) Up() {
	s.t.Helper()
	s.mu.Lock()
	up := s.srv != nil
	s.mu.Unlock()
	if up {
		return
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("smtptest: listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// Reject makes RCPT TO answer with fn's error (nil accepts). Use
// TempFailure or PermFailure; Reject(nil) accepts everything again.
func (s *Sink) Reject(fn func(rcpt string) error) {
	s.mu.Lock()
	s.reject = fn
	s.mu.Unlock()
}

// TempFailure is a 451 reply (try again later).
var TempFailure error = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}

// PermFailure is a 550 reply (no such mailbox).
var PermFailure error = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}

// Messages returns a copy of what was accepted so far.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Count is the number of accepted messages.
func (s *Sink) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// WaitFor waits until match holds for at least n accepted messages (match
// nil: any message) and returns those, failing the test after timeout.
func (s *Sink) WaitFor(n int, timeout time.Duration, match func(Message) bool) []Message {
	s.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		var got []Message
		for _, m := range s.msgs {
			if match == nil || match(m) {
				got = append(got, m)
			}
		}
		wake := s.wake
		s.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-wake:
		case <-deadline.C:
			s.t.Fatalf("smtptest: %d matching messages after %v, want %d", len(got), timeout, n)
			return nil
		}
	}
}

// Wait waits for n messages in all.
func (s *Sink) Wait(n int, timeout time.Duration) []Message { return s.WaitFor(n, timeout, nil) }

// To returns a matcher for messages addressed to addr.
func To(addr string) func(Message) bool {
	return func(m Message) bool {
		for _, t := range m.To {
			if strings.EqualFold(t, addr) {
				return true
			}
		}
		return false
	}
}

func (s *Sink) accept(m Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

type backend struct{ s *Sink }

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, conn: c}, nil
}

type session struct {
	s    *Sink
	conn *smtp.Conn
	user string
	from string
	to   []string
}

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != Username || password != Password {
			return smtp.ErrAuthFailed
		}
		x.user = username
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.user == "" {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.s.mu.Lock()
	reject := x.s.reject
	x.s.mu.Unlock()
	if reject != nil {
		if err := reject(to); err != nil {
			return err
		}
	}
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := x.conn.TLSConnectionState()
	x.s.accept(Message{From: x.from, To: append([]string(nil), x.to...), Raw: raw, TLS: isTLS, User: x.user})
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

// Header returns a decoded header of the message ("Subject", "To", ...).
func (m Message) Header(name string) string {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		return ""
	}
	v := msg.Header.Get(name)
	if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// Subject is the decoded Subject header.
func (m Message) Subject() string { return m.Header("Subject") }

// MessageID is the Message-Id header.
func (m Message) MessageID() string { return m.Header("Message-Id") }

// Text is the decoded text/plain part.
func (m Message) Text() string { return m.part("text/plain") }

// HTML is the decoded text/html part.
func (m Message) HTML() string { return m.part("text/html") }

var linkRE = regexp.MustCompile(`https?://[^\s"'<>]+`)

// Link is the first http(s) link of the text part.
func (m Message) Link() string { return linkRE.FindString(m.Text()) }

func (m Message) part(want string) string {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		return ""
	}
	body, _ := findPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, want, 0)
	return body
}

func findPart(ctype, cte string, body io.Reader, want string, depth int) (string, bool) {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil || depth > 5 {
		return "", false
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return "", false
			}
			if s, ok := findPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, want, depth+1); ok {
				return s, true
			}
		}
	}
	if mt != want {
		return "", false
	}
	var r io.Reader = body
	switch strings.ToLower(cte) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = newBase64Reader(body)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", false
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n"), true
}

func selfSigned(t testing.TB) (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func (m Message) String() string {
	return fmt.Sprintf("to %v: %q", m.To, m.Subject())
}
