package mfa

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"time"
)

// Audit at volume: a SIEM takes the log as JSON lines (ExportAuditEvents),
// and a deployment may keep it for a bounded time (Config.AuditRetention),
// enforced by the periodic purge in batches so no statement holds millions
// of rows.

// AuditArchiveStore reads the audit log in time order and deletes its oldest
// events. It is part of Store.
type AuditArchiveStore interface {
	// AuditEventsInRange returns at most limit events with CreatedAt in
	// [q.From, q.To) of q.OrganizationID (every organization when empty)
	// that come after the key after (by CreatedAt, then ID), oldest first.
	// A zero after starts at the beginning of the range.
	AuditEventsInRange(ctx context.Context, q AuditRange, after AuditKey, limit int) ([]AuditEvent, error)
	// DeleteAuditEventsBefore deletes at most limit of the oldest events
	// created before cutoff, in one statement, and says how many it deleted.
	DeleteAuditEventsBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error)
}

// AuditRange is a half-open time range [From, To) of one organization's
// audit log, or of every organization's when OrganizationID is empty.
type AuditRange struct {
	OrganizationID string
	From, To       time.Time
}

// AuditKey is a position in the audit log's time order.
type AuditKey struct {
	CreatedAt time.Time
	ID        string
}

const (
	// auditExportPage is how many events an export reads per statement:
	// memory stays constant whatever the range.
	auditExportPage = 1000
	// AuditPurgeBatch is how many events one retention delete removes.
	AuditPurgeBatch = 5000
)

// AuditRecord is one exported event, a stable shape for SIEMs: one JSON
// object per line, times in RFC 3339 UTC with nanoseconds.
type AuditRecord struct {
	ID               string            `json:"id"`
	Time             time.Time         `json:"time"`
	OrganizationID   string            `json:"organization_id"`
	OrganizationSlug string            `json:"organization,omitempty"`
	Action           AuditAction       `json:"action"`
	ActorID          string            `json:"actor_id,omitempty"`
	SubjectID        string            `json:"subject_id,omitempty"`
	IP               string            `json:"ip,omitempty"`
	UserAgent        string            `json:"user_agent,omitempty"`
	Details          map[string]string `json:"details,omitempty"`
}

// ExportAuditEvents writes the audit events created in [from, to) as JSON
// lines to w, oldest first, for an operator (the `twofold audit export`
// command: there is no viewer). orgSlug limits it to one organization;
// empty exports every organization (events of unknown organizations
// included). It reads by keyset, a page at a time, so it streams any
// range in constant memory, and returns how many events it wrote.
func (s *Service) ExportAuditEvents(ctx context.Context, orgSlug string, from, to time.Time, w io.Writer) (int, error) {
	if from.IsZero() {
		return 0, invalidInput("from", "from is required (RFC 3339)")
	}
	if to.IsZero() {
		return 0, invalidInput("to", "to is required (RFC 3339)")
	}
	if !from.Before(to) {
		return 0, invalidInput("to", "to must be after from")
	}
	q := AuditRange{From: from.UTC(), To: to.UTC()}
	slugs := map[string]string{"": ""}
	if orgSlug != "" {
		org, err := s.store.OrganizationBySlug(ctx, strings.ToLower(strings.TrimSpace(orgSlug)))
		if err != nil {
			return 0, notFound(err, "organization")
		}
		q.OrganizationID = org.ID
		slugs[org.ID] = org.Slug
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var after AuditKey
	n := 0
	for {
		page, err := s.store.AuditEventsInRange(ctx, q, after, auditExportPage)
		if err != nil {
			return n, err
		}
		if err := s.auditSlugs(ctx, page, slugs); err != nil {
			return n, err
		}
		for _, e := range page {
			rec := AuditRecord{
				ID: e.ID, Time: e.CreatedAt.UTC(), OrganizationID: e.OrganizationID, OrganizationSlug: slugs[e.OrganizationID],
				Action: e.Action, ActorID: e.ActorID, SubjectID: e.SubjectID, IP: e.IP, UserAgent: e.UserAgent, Details: e.Details,
			}
			if err := enc.Encode(&rec); err != nil {
				return n, err
			}
			n++
		}
		if len(page) < auditExportPage {
			return n, nil
		}
		last := page[len(page)-1]
		after = AuditKey{CreatedAt: last.CreatedAt, ID: last.ID}
	}
}

// auditSlugs adds the slugs of the page's organizations not yet in slugs.
func (s *Service) auditSlugs(ctx context.Context, page []AuditEvent, slugs map[string]string) error {
	var missing []string
	for _, e := range page {
		if _, ok := slugs[e.OrganizationID]; !ok {
			missing = append(missing, e.OrganizationID)
			slugs[e.OrganizationID] = "" // asked once, even if deleted since
		}
	}
	if len(missing) == 0 {
		return nil
	}
	orgs, err := s.store.OrganizationsByIDs(ctx, missing)
	if err != nil {
		return err
	}
	for _, o := range orgs {
		slugs[o.ID] = o.Slug
	}
	return nil
}

// PurgeAuditEvents deletes the events older than the configured retention
// (Config.AuditRetention; zero keeps them forever), a batch per statement,
// and returns how many it deleted. The periodic purge runs it; any server
// may, at any time.
func (s *Service) PurgeAuditEvents(ctx context.Context) (int64, error) {
	if s.cfg.AuditRetention <= 0 {
		return 0, nil
	}
	cutoff := s.now().Add(-s.cfg.AuditRetention)
	var total int64
	for {
		n, err := s.store.DeleteAuditEventsBefore(ctx, cutoff, AuditPurgeBatch)
		total += n
		if err != nil || n < AuditPurgeBatch {
			return total, err
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}
