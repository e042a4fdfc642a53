package factortest

import (
	"context"
	"sync"
	"time"
)

// Message is what a factor delivered through the host services
// (sdk.Host(ctx).Deliver) during the suite.
type Message struct {
	UserID, FactorType, Subject, Text string
}

// Mailbox records the messages a factor delivers: the suite serves the
// real host services to the plugin, with a Mailbox where the server has
// its notifications outbox. A Solver for a factor that mails codes reads
// them here (WithMailbox).
type Mailbox struct {
	mu   sync.Mutex
	msgs []Message
}

// WithMailbox records the plugin's messages in m (by default they are
// recorded and dropped).
func WithMailbox(m *Mailbox) Option { return func(c *config) { c.mailbox = m } }

// Last returns the latest message, if any.
func (m *Mailbox) Last() (Message, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.msgs) == 0 {
		return Message{}, false
	}
	return m.msgs[len(m.msgs)-1], true
}

// All returns every message so far.
func (m *Mailbox) All() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Message(nil), m.msgs...)
}

// DeliverFactorMessage implements host.Backend.
func (m *Mailbox) DeliverFactorMessage(_ context.Context, userID, factorType, subject, text string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, Message{UserID: userID, FactorType: factorType, Subject: subject, Text: text})
	return nil
}

// Now implements host.Backend.
func (m *Mailbox) Now() time.Time { return time.Now().UTC() }
