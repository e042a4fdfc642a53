package server

import (
	"fmt"
	"net/mail"
	"time"

	"github.com/twofoldauth/twofold/notify"
)

// MailConfig configures the outbox worker every server runs.
type MailConfig struct {
	// SMTPURL is TWOFOLD_SMTP_URL: smtp://user:pass@host:587 (STARTTLS
	// required), smtps://user:pass@host:465 (implicit TLS),
	// smtp://host:25?tls=none (plain, only when said so) or
	// ?tls=opportunistic. Empty: mails are written to the log in full and
	// kept in the outbox as LOGGED.
	SMTPURL string
	// SMTPCAFile is TWOFOLD_SMTP_CA_FILE: PEM certificates the SMTP
	// server's chain must end in, instead of the system roots.
	SMTPCAFile string
	// From is TWOFOLD_MAIL_FROM, the sender address.
	From string
	// PollInterval is how often the worker looks for due mails
	// (TWOFOLD_MAIL_POLL_INTERVAL, default 1s).
	PollInterval time.Duration
	// MaxAge is how long a mail is retried before it is DEAD
	// (TWOFOLD_MAIL_MAX_AGE, default 24h).
	MaxAge time.Duration
	// RetryBase is the first retry's delay, doubled at each attempt up to
	// an hour (TWOFOLD_MAIL_RETRY_BASE, default 30s).
	RetryBase time.Duration
	// NoWorker: this server writes outbox rows but sends nothing (tests
	// of a server that dies between the commit and the send).
	NoWorker bool
}

// DefaultMailFrom is the sender when TWOFOLD_MAIL_FROM is not set and no
// SMTP server is configured.
const DefaultMailFrom = "twofold@localhost"

// readMailConfig reads the TWOFOLD_SMTP_* and TWOFOLD_MAIL_* variables. It
// runs after TWOFOLD_PUBLIC_URL is read: with SMTP set, mails carry links,
// so the public URL is required.
func readMailConfig(r *envReader, c *Config) {
	c.Mail = MailConfig{
		SMTPURL:      r.str("TWOFOLD_SMTP_URL", ""),
		SMTPCAFile:   r.str("TWOFOLD_SMTP_CA_FILE", ""),
		From:         r.str("TWOFOLD_MAIL_FROM", ""),
		PollInterval: r.duration("TWOFOLD_MAIL_POLL_INTERVAL", notify.DefaultPollInterval),
		MaxAge:       r.duration("TWOFOLD_MAIL_MAX_AGE", notify.DefaultMaxAge),
		RetryBase:    r.duration("TWOFOLD_MAIL_RETRY_BASE", notify.DefaultRetryBase),
	}
	for name, err := range c.Mail.check() {
		r.fail(name, "%s", err)
	}
	if c.Mail.SMTPURL != "" && c.PublicURL == "" {
		r.fail("TWOFOLD_PUBLIC_URL", "is required when TWOFOLD_SMTP_URL is set: it is the base of the links in mails (e.g. https://mfa.example.com)")
	}
}

// check validates the settings; each error is keyed by its variable.
func (m MailConfig) check() map[string]error {
	errs := map[string]error{}
	if m.SMTPURL != "" {
		if _, err := notify.ParseSMTPURL(m.SMTPURL, ""); err != nil {
			errs["TWOFOLD_SMTP_URL"] = err
		}
		if m.SMTPCAFile != "" {
			if _, err := notify.LoadCAFile(m.SMTPCAFile); err != nil {
				errs["TWOFOLD_SMTP_CA_FILE"] = err
			}
		}
		if m.From == "" {
			errs["TWOFOLD_MAIL_FROM"] = fmt.Errorf("is required when TWOFOLD_SMTP_URL is set")
		}
	} else if m.SMTPCAFile != "" {
		errs["TWOFOLD_SMTP_CA_FILE"] = fmt.Errorf("is set but TWOFOLD_SMTP_URL is not")
	}
	if m.From != "" {
		if a, err := mail.ParseAddress(m.From); err != nil || a.Address == "" {
			errs["TWOFOLD_MAIL_FROM"] = fmt.Errorf("%q is not an email address", m.From)
		}
	}
	return errs
}

// newMailWorker builds the outbox worker from the mail settings, on the
// service's clock. Without TWOFOLD_SMTP_URL it logs mails instead.
func (s *Server) newMailWorker(templates *notify.Templates) (*notify.Worker, error) {
	m := s.cfg.Mail
	for name, err := range m.check() {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	wc := notify.Config{
		From: m.From, PublicURL: s.publicURL(), PollInterval: m.PollInterval, MaxAge: m.MaxAge, RetryBase: m.RetryBase,
		Now: s.service.Now, Logger: s.log,
	}
	if wc.From == "" {
		wc.From = DefaultMailFrom
	}
	if m.SMTPURL != "" {
		smtp, err := notify.ParseSMTPURL(m.SMTPURL, m.SMTPCAFile)
		if err != nil {
			return nil, fmt.Errorf("TWOFOLD_SMTP_URL, TWOFOLD_SMTP_CA_FILE: %w", err)
		}
		wc.Sender = notify.NewSMTPSender(smtp)
	} else {
		s.log.Info("mail: no SMTP server configured (TWOFOLD_SMTP_URL): mails are written to this log and kept in the outbox as LOGGED")
	}
	return notify.NewWorker(s.store, templates, wc), nil
}

// publicURL is TWOFOLD_PUBLIC_URL, or the listen address's URL.
func (s *Server) publicURL() string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	return "http://" + s.cfg.HTTPAddr
}

// startMail builds the outbox worker and starts it (unless NoWorker); Close
// stops it.
func (s *Server) startMail(templates *notify.Templates) error {
	w, err := s.newMailWorker(templates)
	if err != nil {
		return err
	}
	if !s.cfg.Mail.NoWorker {
		s.mailer = w
		w.Start()
	}
	return nil
}
