package notify

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/twofoldauth/twofold/mfa"
)

// Store is what the worker needs from the database (models.Store).
type Store interface {
	// ClaimNotifications takes up to limit PENDING rows due at now for the
	// claim token: each gets claimed_by = token, next_attempt_at =
	// leaseUntil and one more attempt, atomically, so no two workers (on
	// any server) hold the same row. A worker that dies leaves its rows to
	// be claimed again once leaseUntil passes.
	ClaimNotifications(ctx context.Context, token string, now, leaseUntil time.Time, limit int) ([]mfa.Notification, error)
	// FinishNotification records the outcome of a claimed row (replacing
	// its data when r.Data is set), only if token still holds it
	// (otherwise mfa.ErrStale).
	FinishNotification(ctx context.Context, id, token string, r Result) error
	NotificationTemplate(ctx context.Context, orgID string, ev mfa.Event) (*mfa.NotificationTemplate, error)
	OrganizationByID(ctx context.Context, id string) (*mfa.Organization, error)
}

// Result is the outcome of one attempt.
type Result struct {
	// Status is SENT, LOGGED, DEAD or SKIPPED; PENDING schedules a retry
	// at NextAttemptAt.
	Status        mfa.NotificationStatus
	LastError     string
	NextAttemptAt time.Time
	SentAt        *time.Time
	// Data, when not nil, replaces the row's data: the worker sets it to
	// the data with SecretVariables blanked once the row is final, so a
	// link's token is not kept in the database after its mail left.
	Data map[string]string
}

// SecretVariables are data keys that hold a credential (a link's token,
// a factor message's text with its one-time code). The outbox keeps them
// only while the mail may still be sent: once a row is SENT, LOGGED, DEAD
// or SKIPPED they are blanked.
var SecretVariables = []string{"link", "text"}

// withoutSecrets is data with SecretVariables blanked, or nil when it has
// none (nothing to rewrite).
func withoutSecrets(data map[string]string) map[string]string {
	var out map[string]string
	for _, k := range SecretVariables {
		if v, ok := data[k]; !ok || v == "" {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(data))
			for k, v := range data {
				out[k] = v
			}
		}
		out[k] = ""
	}
	return out
}

// Config tunes a Worker. Zero values take the defaults.
type Config struct {
	// Sender delivers mail; nil writes each mail to the log in full and
	// marks it LOGGED (no SMTP server configured).
	Sender Sender
	// From is the sender address.
	From string
	// PublicURL is the base of links (the public_url variable).
	PublicURL    string
	PollInterval time.Duration
	// Lease is how long a claimed row is held before another worker may
	// take it; it must exceed a batch's sending time.
	Lease time.Duration
	// MaxAge: a mail not sent this long after it was written is DEAD.
	MaxAge    time.Duration
	RetryBase time.Duration
	RetryMax  time.Duration
	Batch     int
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Worker sends the outbox. Every server runs one; they share the work
// through ClaimNotifications.
type Worker struct {
	store     Store
	templates *Templates
	cfg       Config
	nudge     chan struct{}

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewWorker returns a stopped worker.
func NewWorker(store Store, templates *Templates, cfg Config) *Worker {
	return &Worker{store: store, templates: templates, cfg: cfg.withDefaults(), nudge: make(chan struct{}, 1)}
}

// Start runs the worker in a goroutine until Stop.
func (w *Worker) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	go func() {
		defer close(w.done)
		w.run(ctx)
	}()
}

// Stop ends the worker and waits for the batch in flight. Rows it claimed
// and did not finish are claimed again after their lease.
func (w *Worker) Stop() {
	w.mu.Lock()
	cancel, done := w.cancel, w.done
	w.cancel = nil
	w.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Nudge makes the worker look for due rows now.
func (w *Worker) Nudge() {
	select {
	case w.nudge <- struct{}{}:
	default:
	}
}

func (w *Worker) run(ctx context.Context) {
	t := time.NewTicker(w.cfg.PollInterval)
	defer t.Stop()
	for {
		for {
			n, err := w.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				w.cfg.Logger.Warn("notify: outbox", "err", err)
			}
			if err != nil || n < w.cfg.Batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.nudge:
		}
	}
}

// RunOnce claims one batch of due rows and sends them; it returns how
// many it claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	now := w.cfg.Now().UTC()
	token := newToken()
	rows, err := w.store.ClaimNotifications(ctx, token, now, now.Add(w.cfg.Lease), w.cfg.Batch)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	var mails []Mail
	var sending []mfa.Notification
	var errs []error
	for _, n := range rows {
		m, res, ok := w.prepare(ctx, n, now)
		if !ok {
			errs = append(errs, w.finish(ctx, n, token, res))
			continue
		}
		mails, sending = append(mails, m), append(sending, n)
	}
	if len(mails) == 0 {
		return len(rows), errors.Join(errs...)
	}
	var sendErrs []error
	if w.cfg.Sender == nil {
		sendErrs = make([]error, len(mails))
		for _, m := range mails {
			w.cfg.Logger.Info("notify: no SMTP server configured (TWOFOLD_SMTP_URL); the mail follows",
				"id", m.ID, "from", m.From, "to", m.To, "subject", m.Subject, "text", m.Text, "html", m.HTML)
		}
	} else {
		sendErrs = w.cfg.Sender.Send(ctx, mails)
	}
	at := w.cfg.Now().UTC()
	for i, n := range sending {
		errs = append(errs, w.finish(ctx, n, token, w.outcome(n, sendErrs[i], at)))
	}
	return len(rows), errors.Join(errs...)
}

func (w *Worker) finish(ctx context.Context, n mfa.Notification, token string, r Result) error {
	if r.Status != mfa.NotificationPending {
		r.Data = withoutSecrets(n.Data)
	}
	err := w.store.FinishNotification(ctx, n.ID, token, r)
	if errors.Is(err, mfa.ErrStale) {
		// Another worker took the row after our lease ran out.
		w.cfg.Logger.Warn("notify: lease lost before the outcome was written", "id", n.ID)
		return nil
	}
	return err
}

// prepare renders n; ok is false when n is not to be sent (its result
// says why).
func (w *Worker) prepare(ctx context.Context, n mfa.Notification, now time.Time) (Mail, Result, bool) {
	if now.Sub(n.CreatedAt) > w.cfg.MaxAge {
		return Mail{}, Result{Status: mfa.NotificationDead, LastError: lastError("not sent within the maximum age", n.LastError)}, false
	}
	if n.To == "" {
		return Mail{}, Result{Status: mfa.NotificationSkipped, LastError: "the user has no email address"}, false
	}
	override, err := w.store.NotificationTemplate(ctx, n.OrganizationID, n.Event)
	if errors.Is(err, mfa.ErrNotFound) {
		override, err = nil, nil
	}
	if err != nil {
		return Mail{}, w.retry(n, now, "reading the template: "+err.Error()), false
	}
	if override != nil && !override.Enabled {
		return Mail{}, Result{Status: mfa.NotificationSkipped, LastError: "the organization switched this event off"}, false
	}
	org, err := w.store.OrganizationByID(ctx, n.OrganizationID)
	if err != nil {
		return Mail{}, w.retry(n, now, "reading the organization: "+err.Error()), false
	}
	data := make(map[string]string, len(n.Data)+2)
	for k, v := range n.Data {
		data[k] = v
	}
	data["organization_name"], data["public_url"] = org.Name, w.cfg.PublicURL
	r, err := w.templates.Render(n.Event, override, data)
	if err != nil {
		return Mail{}, Result{Status: mfa.NotificationDead, LastError: "rendering: " + err.Error()}, false
	}
	return Mail{ID: n.ID, From: w.cfg.From, To: n.To, Subject: r.Subject, Text: r.Text, HTML: r.HTML}, Result{}, true
}

func (w *Worker) outcome(n mfa.Notification, err error, at time.Time) Result {
	if err == nil {
		if w.cfg.Sender == nil {
			return Result{Status: mfa.NotificationLogged, LastError: "no SMTP server configured: written to the log", SentAt: &at}
		}
		return Result{Status: mfa.NotificationSent, SentAt: &at}
	}
	var se *SendError
	if errors.As(err, &se) && se.Permanent {
		return Result{Status: mfa.NotificationDead, LastError: truncate(err.Error())}
	}
	if at.Sub(n.CreatedAt) > w.cfg.MaxAge {
		return Result{Status: mfa.NotificationDead, LastError: truncate("not sent within the maximum age: " + err.Error())}
	}
	return w.retry(n, at, err.Error())
}

// retry schedules the next attempt: RetryBase doubled for each attempt
// made (n.Attempts counts this one), at most RetryMax, with ±20 % jitter
// so servers that failed together do not retry together.
func (w *Worker) retry(n mfa.Notification, now time.Time, msg string) Result {
	d := w.cfg.RetryBase
	for i := 1; i < n.Attempts && d < w.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, w.cfg.RetryMax)
	d += time.Duration((rand.Float64()*0.4 - 0.2) * float64(d))
	return Result{Status: mfa.NotificationPending, LastError: truncate(msg), NextAttemptAt: now.Add(d)}
}

func lastError(msg, prev string) string {
	if prev != "" {
		msg += "; last error: " + prev
	}
	return truncate(msg)
}

func truncate(s string) string {
	if len(s) > 1000 {
		s = s[:1000]
	}
	return strings.ToValidUTF8(s, "")
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}
