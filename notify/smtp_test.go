package notify

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/notify/smtptest"
)

func sinkConfig(t *testing.T, sink *smtptest.Sink) SMTPConfig {
	t.Helper()
	cfg, err := ParseSMTPURL(sink.URL(), sink.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 5 * time.Second
	return cfg
}

func testMail(id, to string) Mail {
	return Mail{ID: id, From: "twofold@example.com", To: to, Subject: "Hello é", Text: "text part https://mfa.example.com/x", HTML: "<p>html &amp; part</p>"}
}

func TestSMTPSenderDelivers(t *testing.T) {
	for name, opts := range map[string][]smtptest.Option{"starttls": nil, "implicit": {smtptest.ImplicitTLS()}} {
		t.Run(name, func(t *testing.T) {
			sink := smtptest.New(t, opts...)
			s := NewSMTPSender(sinkConfig(t, sink))
			errs := s.Send(context.Background(), []Mail{testMail("a1", "ann@example.com"), testMail("a2", "bob@example.com")})
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			got := sink.Wait(2, 5*time.Second)
			m := got[0]
			if !m.TLS || m.User != smtptest.Username {
				t.Errorf("delivered without TLS or AUTH: tls=%v user=%q", m.TLS, m.User)
			}
			if m.Subject() != "Hello é" || !strings.Contains(m.Text(), "https://mfa.example.com/x") || !strings.Contains(m.HTML(), "html &amp; part") {
				t.Errorf("message parts: subject %q text %q html %q", m.Subject(), m.Text(), m.HTML())
			}
			if m.Link() != "https://mfa.example.com/x" || m.MessageID() != "<a1@twofold>" {
				t.Errorf("link %q message id %q", m.Link(), m.MessageID())
			}
			if len(m.To) != 1 || m.To[0] != "ann@example.com" || m.From != "twofold@example.com" {
				t.Errorf("envelope: %v %v", m.From, m.To)
			}
		})
	}
}

func TestSMTPSenderFailures(t *testing.T) {
	sink := smtptest.New(t)
	cfg := sinkConfig(t, sink)
	send := func(cfg SMTPConfig) *SendError {
		t.Helper()
		err := NewSMTPSender(cfg).Send(context.Background(), []Mail{testMail("f", "x@example.com")})[0]
		var se *SendError
		if !errors.As(err, &se) {
			t.Fatalf("want a *SendError, got %v", err)
		}
		return se
	}
	t.Run("5xx is permanent", func(t *testing.T) {
		sink.Reject(func(string) error { return smtptest.PermFailure })
		defer sink.Reject(nil)
		if se := send(cfg); !se.Permanent {
			t.Errorf("550 not permanent: %v", se)
		}
	})
	t.Run("4xx is temporary", func(t *testing.T) {
		sink.Reject(func(string) error { return smtptest.TempFailure })
		defer sink.Reject(nil)
		if se := send(cfg); se.Permanent {
			t.Errorf("451 permanent: %v", se)
		}
	})
	t.Run("wrong password is temporary", func(t *testing.T) {
		bad := cfg
		bad.Password = "wrong"
		if se := send(bad); se.Permanent {
			t.Errorf("auth failure permanent: %v", se)
		}
	})
	t.Run("untrusted certificate fails", func(t *testing.T) {
		bad := cfg
		bad.RootCAs = nil
		if se := send(bad); se.Permanent {
			t.Errorf("TLS failure permanent: %v", se)
		}
	})
	t.Run("tls=none against a STARTTLS server sends nothing in clear with a password", func(t *testing.T) {
		if _, err := ParseSMTPURL("smtp://u:p@"+sink.Addr()+"?tls=none", ""); err == nil {
			t.Error("credentials without TLS accepted")
		}
	})
	t.Run("server down is temporary, and it comes back", func(t *testing.T) {
		sink.Down()
		if se := send(cfg); se.Permanent {
			t.Errorf("refused connection permanent: %v", se)
		}
		sink.Up()
		if err := NewSMTPSender(cfg).Send(context.Background(), []Mail{testMail("back", "x@example.com")})[0]; err != nil {
			t.Fatal(err)
		}
	})
	if n := sink.Count(); n != 1 {
		t.Errorf("sink accepted %d messages, want 1", n)
	}
}

func TestParseSMTPURL(t *testing.T) {
	good := map[string]SMTPConfig{
		"smtp://u:p@mail.example.com:587":        {Host: "mail.example.com", Port: 587, Username: "u", Password: "p", TLS: TLSStartTLS},
		"smtp://mail.example.com":                {Host: "mail.example.com", Port: 587, TLS: TLSStartTLS},
		"smtps://u:p@mail.example.com":           {Host: "mail.example.com", Port: 465, Username: "u", Password: "p", TLS: TLSImplicit},
		"smtp://relay:25?tls=none":               {Host: "relay", Port: 25, TLS: TLSNone},
		"smtp://u:p@relay:25?tls=opportunistic":  {Host: "relay", Port: 25, Username: "u", Password: "p", TLS: TLSOpportunistic},
		"smtp://u:p%40ss@mail.example.com:2525/": {Host: "mail.example.com", Port: 2525, Username: "u", Password: "p@ss", TLS: TLSStartTLS},
	}
	for raw, want := range good {
		got, err := ParseSMTPURL(raw, "")
		if err != nil {
			t.Errorf("%s: %v", raw, err)
			continue
		}
		got.Timeout = 0
		if got.Host != want.Host || got.Port != want.Port || got.Username != want.Username || got.Password != want.Password || got.TLS != want.TLS {
			t.Errorf("%s: got %+v, want %+v", raw, got, want)
		}
	}
	for _, raw := range []string{"http://mail.example.com", "smtp://", "smtp://h:99999", "smtp://h:x", "smtps://h?tls=none",
		"smtp://h?tls=maybe", "smtp://h?insecure=1", "smtp://u:p@h?tls=none", "smtp://h/path", "::"} {
		if _, err := ParseSMTPURL(raw, ""); err == nil {
			t.Errorf("%s accepted", raw)
		}
	}
	if _, err := ParseSMTPURL("smtp://h", "/nonexistent/ca.pem"); err == nil {
		t.Error("missing CA file accepted")
	}
}
