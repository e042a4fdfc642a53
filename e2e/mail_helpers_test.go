package e2e

import (
	"testing"
	"time"

	"github.com/twofoldauth/twofold/notify/smtptest"
	"github.com/twofoldauth/twofold/server"
)

// mailWait bounds how long a test waits for a mail (the worker polls every
// mailPoll; the clock does not need to move for a mail that is due now).
const (
	mailWait = 10 * time.Second
	mailPoll = 20 * time.Millisecond
)

// mailSink starts an SMTP sink (STARTTLS and AUTH required) and points
// cfg's mail settings at it.
func mailSink(t *testing.T, cfg *server.Config) *smtptest.Sink {
	sink := smtptest.New(t)
	cfg.Mail = server.MailConfig{
		SMTPURL:      sink.URL(),
		SMTPCAFile:   sink.CAFile(),
		From:         "Twofold <twofold@mfa.test>",
		PollInterval: mailPoll,
		RetryBase:    time.Minute,
	}
	return sink
}

// mail is the SMTP sink every server of the env sends to. Wait for mails
// with e.mail().WaitFor(n, mailWait, smtptest.To(addr)); read the subject,
// text, HTML and first link of each with its methods.
func (e *env) mail() *smtptest.Sink { return e.sink }

// mailsTo waits for n mails to addr and returns them.
func (e *env) mailsTo(addr string, n int) []smtptest.Message {
	e.t.Helper()
	return e.sink.WaitFor(n, mailWait, smtptest.To(addr))
}
