package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMailConfig(t *testing.T) {
	base := map[string]string{"TWOFOLD_SEAL_KEY": goodKey}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	c, err := ConfigFromEnv(env(base))
	if err != nil || c.Mail.SMTPURL != "" || c.Mail.PollInterval.Seconds() != 1 || c.Mail.MaxAge.Hours() != 24 {
		t.Fatalf("no SMTP (make run): %+v %v", c.Mail, err)
	}
	c, err = ConfigFromEnv(env(with("TWOFOLD_SMTP_URL", "smtp://u:p@mail.example.com:587", "TWOFOLD_MAIL_FROM", "Twofold <mfa@example.com>",
		"TWOFOLD_PUBLIC_URL", "https://mfa.example.com", "TWOFOLD_MAIL_MAX_AGE", "6h")))
	if err != nil || c.Mail.From != "Twofold <mfa@example.com>" || c.Mail.MaxAge.Hours() != 6 {
		t.Fatalf("good SMTP settings: %+v %v", c.Mail, err)
	}
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	_ = os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	bad := map[string]map[string]string{
		"TWOFOLD_SMTP_URL": with("TWOFOLD_SMTP_URL", "http://mail.example.com", "TWOFOLD_MAIL_FROM", "a@b.c", "TWOFOLD_PUBLIC_URL", "https://x.y"),
		// Plain text only when said so, and never with a password.
		"TWOFOLD_SMTP_URL ":  with("TWOFOLD_SMTP_URL", "smtp://u:p@mail:25?tls=none", "TWOFOLD_MAIL_FROM", "a@b.c", "TWOFOLD_PUBLIC_URL", "https://x.y"),
		"TWOFOLD_MAIL_FROM":  with("TWOFOLD_SMTP_URL", "smtp://mail.example.com", "TWOFOLD_PUBLIC_URL", "https://x.y"),
		"TWOFOLD_MAIL_FROM ": with("TWOFOLD_MAIL_FROM", "not an address"),
		"TWOFOLD_PUBLIC_URL": with("TWOFOLD_SMTP_URL", "smtp://mail.example.com", "TWOFOLD_MAIL_FROM", "a@b.c"),
		"TWOFOLD_SMTP_CA_FILE": with("TWOFOLD_SMTP_URL", "smtp://mail.example.com", "TWOFOLD_MAIL_FROM", "a@b.c", "TWOFOLD_PUBLIC_URL", "https://x.y",
			"TWOFOLD_SMTP_CA_FILE", notPEM),
		"TWOFOLD_SMTP_CA_FILE ":      with("TWOFOLD_SMTP_CA_FILE", "/etc/ca.pem"),
		"TWOFOLD_MAIL_POLL_INTERVAL": with("TWOFOLD_MAIL_POLL_INTERVAL", "often"),
	}
	for name, vars := range bad {
		_, err := ConfigFromEnv(env(vars))
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(name)) {
			t.Errorf("%s: error %v does not name it", name, err)
		}
	}
}

// A Config built in code (not from the environment) is checked at start-up
// too.
func TestNewRefusesBadSMTPSettings(t *testing.T) {
	cfg := Config{DatabaseURL: "sqlite://" + filepath.Join(t.TempDir(), "db"), SealKey: make([]byte, 32)}
	cfg.Mail.SMTPURL, cfg.Mail.From = "smtp://mail.example.com?tls=maybe", "a@b.c"
	s, err := New(context.Background(), cfg)
	if err == nil {
		s.Close()
		t.Fatal("bad TWOFOLD_SMTP_URL accepted")
	}
	if !strings.Contains(err.Error(), "TWOFOLD_SMTP_URL") {
		t.Errorf("error does not name the variable: %v", err)
	}
}
