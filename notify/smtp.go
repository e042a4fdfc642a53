package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"time"

	mail "github.com/wneessen/go-mail"
)

// TLSMode is how the connection to the SMTP server is protected.
type TLSMode string

// TLS modes.
const (
	// TLSStartTLS (smtp://, the default): STARTTLS is required; a server
	// that does not offer it is an error.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit (smtps://): TLS from the first byte.
	TLSImplicit TLSMode = "implicit"
	// TLSOpportunistic (smtp://...?tls=opportunistic): STARTTLS when
	// offered, plain text otherwise.
	TLSOpportunistic TLSMode = "opportunistic"
	// TLSNone (smtp://...?tls=none): plain text, only when said so.
	TLSNone TLSMode = "none"
)

// SMTPConfig is a parsed TWOFOLD_SMTP_URL.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	Password string
	TLS      TLSMode
	// RootCAs verify the server's certificate (nil: the system roots).
	RootCAs *x509.CertPool
	// Timeout bounds a connection and each command (default 30s).
	Timeout time.Duration
}

// ParseSMTPURL reads smtp://user:pass@host:587 (STARTTLS required),
// smtps://user:pass@host:465 (implicit TLS), and the query parameter
// tls=none or tls=opportunistic on smtp://. caFile, if set, is a PEM file
// of the certificates the server's chain must end in (instead of the system
// roots).
func ParseSMTPURL(raw, caFile string) (SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return SMTPConfig{}, errors.New("is not a URL like smtp://user:password@host:587")
	}
	c := SMTPConfig{Host: u.Hostname(), Timeout: 30 * time.Second}
	switch u.Scheme {
	case "smtp":
		c.TLS, c.Port = TLSStartTLS, 587
	case "smtps":
		c.TLS, c.Port = TLSImplicit, 465
	default:
		return SMTPConfig{}, fmt.Errorf("scheme %q: use smtp:// (STARTTLS) or smtps:// (implicit TLS)", u.Scheme)
	}
	if c.Host == "" {
		return SMTPConfig{}, errors.New("names no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SMTPConfig{}, fmt.Errorf("port %q is not a port number", p)
		}
		c.Port = n
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	if u.Path != "" && u.Path != "/" {
		return SMTPConfig{}, errors.New("must not have a path")
	}
	q := u.Query()
	for k := range q {
		if k != "tls" {
			return SMTPConfig{}, fmt.Errorf("unknown parameter %q (only tls=none or tls=opportunistic)", k)
		}
	}
	switch t := q.Get("tls"); t {
	case "":
	case string(TLSNone), string(TLSOpportunistic):
		if c.TLS == TLSImplicit {
			return SMTPConfig{}, fmt.Errorf("tls=%s contradicts smtps://", t)
		}
		c.TLS = TLSMode(t)
	default:
		return SMTPConfig{}, fmt.Errorf("tls=%q: use tls=none or tls=opportunistic (STARTTLS is the default)", t)
	}
	if c.TLS == TLSNone && c.Username != "" {
		return SMTPConfig{}, errors.New("refuses to send a password without TLS (tls=none with credentials)")
	}
	if caFile != "" {
		pool, err := LoadCAFile(caFile)
		if err != nil {
			return SMTPConfig{}, err
		}
		c.RootCAs = pool
	}
	return c, nil
}

// LoadCAFile reads a PEM file of CA certificates (TWOFOLD_SMTP_CA_FILE).
func LoadCAFile(path string) (*x509.CertPool, error) {
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// Mail is one rendered message.
type Mail struct {
	// ID becomes the Message-ID (with the sender's domain), so a receiver
	// can tell a message it got twice.
	ID      string
	From    string
	To      string
	Subject string
	Text    string
	HTML    string
}

// SendError is a failed delivery. Permanent failures (5xx replies) are not
// retried.
type SendError struct {
	Permanent bool
	Err       error
}

func (e *SendError) Error() string { return e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// Sender delivers mails.
type Sender interface {
	// Send delivers ms over one connection and returns one error per mail
	// (nil: accepted by the server).
	Send(ctx context.Context, ms []Mail) []error
}

// SMTPSender sends through an SMTP server with github.com/wneessen/go-mail.
type SMTPSender struct {
	cfg SMTPConfig
}

// NewSMTPSender returns a sender for cfg.
func NewSMTPSender(cfg SMTPConfig) *SMTPSender { return &SMTPSender{cfg: cfg} }

func (s *SMTPSender) client() (*mail.Client, error) {
	opts := []mail.Option{
		mail.WithPort(s.cfg.Port),
		mail.WithTimeout(s.cfg.Timeout),
		mail.WithTLSConfig(&tls.Config{ServerName: s.cfg.Host, RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12}),
	}
	switch s.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case TLSOpportunistic:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if s.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(s.cfg.Username), mail.WithPassword(s.cfg.Password))
	}
	return mail.NewClient(s.cfg.Host, opts...)
}

// Send delivers ms over one connection. A connection, TLS or
// authentication failure fails every mail, temporarily unless the server
// answered 5xx.
func (s *SMTPSender) Send(ctx context.Context, ms []Mail) []error {
	errs := make([]error, len(ms))
	msgs := make([]*mail.Msg, len(ms))
	for i, m := range ms {
		msg, err := buildMsg(m)
		if err != nil {
			errs[i] = &SendError{Permanent: true, Err: err}
			continue
		}
		msgs[i] = msg
	}
	c, err := s.client()
	if err == nil {
		err = c.DialWithContext(ctx)
	}
	if err != nil {
		// Connection, TLS and authentication failures are retried even on
		// a 5xx reply: they are the server's or the settings' state, not
		// the mail's.
		for i := range errs {
			if errs[i] == nil {
				errs[i] = &SendError{Err: err}
			}
		}
		return errs
	}
	defer func() { _ = c.Close() }()
	for i, msg := range msgs {
		if msg == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs[i] = &SendError{Err: err}
			continue
		}
		if err := c.Send(msg); err != nil {
			errs[i] = classify(err)
		}
	}
	return errs
}

func buildMsg(m Mail) (*mail.Msg, error) {
	msg := mail.NewMsg()
	if err := msg.From(m.From); err != nil {
		return nil, fmt.Errorf("from address: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("recipient address: %w", err)
	}
	msg.SetMessageIDWithValue(m.ID + "@twofold")
	msg.SetDate()
	msg.Subject(m.Subject)
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// classify marks 5xx replies to a mail as permanent.
func classify(err error) error {
	var se *mail.SendError
	if errors.As(err, &se) {
		if c := se.ErrorCode(); c >= 500 && c < 600 {
			return &SendError{Permanent: true, Err: err}
		}
	}
	return &SendError{Err: err}
}
