package models

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/twofoldauth/twofold/mfa"
)

// Store implements mfa.Store on GORM.
type Store struct {
	db *gorm.DB
	// inTx is set on the Store a Transaction hands to its function.
	inTx bool
}

var _ mfa.Store = (*Store)(nil)

// Transaction runs fn in one database transaction. A transaction the
// database aborted (a deadlock, a lock wait timeout, a Galera certification
// conflict, SQLite busy) is run again from the start, a bounded number of
// times, so no client sees such an abort; fn must not keep effects outside
// the transaction. A Transaction inside a transaction is a savepoint and is
// not retried on its own: the outermost one is.
func (s *Store) Transaction(ctx context.Context, fn func(tx mfa.Store) error) error {
	run := func() error {
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			return fn(&Store{db: tx, inTx: true})
		})
	}
	if s.inTx {
		return classify(run())
	}
	return classify(retryAborted(ctx, run))
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

func (s *Store) conn(ctx context.Context) *gorm.DB { return s.db.WithContext(ctx) }

// translate maps driver errors to mfa's store errors.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return mfa.ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey),
		strings.Contains(err.Error(), "UNIQUE constraint failed"),
		strings.Contains(err.Error(), "Error 1062"):
		return mfa.ErrDuplicate
	}
	return err
}

// first loads one row into dst or returns mfa.ErrNotFound.
func first(db *gorm.DB, dst any, query string, args ...any) error {
	return translate(db.Where(query, args...).Take(dst).Error)
}

// updated turns "no row changed" into mfa.ErrNotFound.
func updated(res *gorm.DB) error {
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return mfa.ErrNotFound
	}
	return nil
}

// --- organizations and companies

func (s *Store) CreateOrganization(ctx context.Context, o *mfa.Organization) error {
	return translate(s.conn(ctx).Create(&organization{ID: o.ID, Slug: o.Slug, Name: o.Name, CreatedAt: o.CreatedAt}).Error)
}

func (s *Store) OrganizationBySlug(ctx context.Context, slug string) (*mfa.Organization, error) {
	var r organization
	if err := first(s.conn(ctx), &r, "slug = ?", slug); err != nil {
		return nil, err
	}
	return r.toMFA(), nil
}

func (s *Store) OrganizationByID(ctx context.Context, id string) (*mfa.Organization, error) {
	var r organization
	if err := first(s.conn(ctx), &r, "id = ?", id); err != nil {
		return nil, err
	}
	return r.toMFA(), nil
}

func (s *Store) OrganizationsByIDs(ctx context.Context, ids []string) ([]mfa.Organization, error) {
	var rows []organization
	if err := s.conn(ctx).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]mfa.Organization, len(rows))
	for i := range rows {
		out[i] = *rows[i].toMFA()
	}
	return out, nil
}

func (s *Store) CompaniesByIDs(ctx context.Context, ids []string) ([]mfa.Company, error) {
	var rows []company
	if err := s.conn(ctx).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]mfa.Company, len(rows))
	for i := range rows {
		out[i] = *rows[i].toMFA()
	}
	return out, nil
}

func (r *organization) toMFA() *mfa.Organization {
	return &mfa.Organization{ID: r.ID, Slug: r.Slug, Name: r.Name, CreatedAt: r.CreatedAt.UTC()}
}

func (s *Store) CreateCompany(ctx context.Context, c *mfa.Company) error {
	return translate(s.conn(ctx).Create(&company{ID: c.ID, OrganizationID: c.OrganizationID, Name: c.Name, CreatedAt: c.CreatedAt}).Error)
}

func (s *Store) CompanyByID(ctx context.Context, id string) (*mfa.Company, error) {
	var r company
	if err := first(s.conn(ctx), &r, "id = ?", id); err != nil {
		return nil, err
	}
	return r.toMFA(), nil
}

func (s *Store) Companies(ctx context.Context, orgID string) ([]mfa.Company, error) {
	var rows []company
	if err := s.conn(ctx).Where("organization_id = ?", orgID).Order("name, id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]mfa.Company, len(rows))
	for i := range rows {
		out[i] = *rows[i].toMFA()
	}
	return out, nil
}

func (r *company) toMFA() *mfa.Company {
	return &mfa.Company{ID: r.ID, OrganizationID: r.OrganizationID, Name: r.Name, CreatedAt: r.CreatedAt.UTC()}
}

// --- users

func fromUser(u *mfa.User) *user {
	perms := make([]string, len(u.Permissions))
	for i, p := range u.Permissions {
		perms[i] = string(p)
	}
	var company *string
	if u.CompanyID != "" {
		company = &u.CompanyID
	}
	return &user{
		ID: u.ID, OrganizationID: u.OrganizationID, CompanyID: company, Username: u.Username, Email: u.Email,
		DisplayName: u.DisplayName, UserType: u.UserType, Permissions: strings.Join(perms, ","),
		PasswordHash: u.PasswordHash, Status: string(u.Status), FailedAttempts: u.FailedAttempts,
		LockedUntil: u.LockedUntil, LastLoginAt: u.LastLoginAt, LastMFAAt: u.LastMFAAt,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
	}
}

func (r *user) toMFA() *mfa.User {
	u := &mfa.User{
		ID: r.ID, OrganizationID: r.OrganizationID, Username: r.Username, Email: r.Email,
		DisplayName: r.DisplayName, UserType: r.UserType, PasswordHash: r.PasswordHash,
		Status: mfa.UserStatus(r.Status), FailedAttempts: r.FailedAttempts,
		LockedUntil: utc(r.LockedUntil), LastLoginAt: utc(r.LastLoginAt), LastMFAAt: utc(r.LastMFAAt),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), MFAEnrolled: r.MFAEnrolled,
	}
	if r.CompanyID != nil {
		u.CompanyID = *r.CompanyID
	}
	if r.Permissions != "" {
		for _, p := range strings.Split(r.Permissions, ",") {
			u.Permissions = append(u.Permissions, mfa.Permission(p))
		}
	}
	return u
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// CreateUser writes the user and its search tokens, in one transaction.
func (s *Store) CreateUser(ctx context.Context, u *mfa.User) error {
	return s.conn(ctx).Transaction(func(tx *gorm.DB) error {
		if err := translate(tx.Create(fromUser(u)).Error); err != nil {
			return err
		}
		return writeSearchTokens(tx, u.ID)
	})
}

func (s *Store) UpdateUser(ctx context.Context, u *mfa.User) error {
	r := fromUser(u)
	// Not the password hash, the login times or the failure count: those
	// have their own guarded statements, and an admin's edit must not write
	// back values read before a login or a password change.
	return s.conn(ctx).Transaction(func(tx *gorm.DB) error {
		if err := updated(tx.Model(&user{}).Where("id = ?", u.ID).Select(
			"company_id", "email", "display_name", "user_type", "permissions", "status", "updated_at",
		).Updates(r)); err != nil {
			return err
		}
		return writeSearchTokens(tx, u.ID)
	})
}

func (s *Store) UserByID(ctx context.Context, id string) (*mfa.User, error) {
	var r user
	if err := first(s.conn(ctx), &r, "id = ?", id); err != nil {
		return nil, err
	}
	return r.toMFA(), nil
}

func (s *Store) UserByLogin(ctx context.Context, orgID, login string) (*mfa.User, error) {
	var r user
	if err := first(s.conn(ctx), &r, "organization_id = ? AND (username = ? OR email = ?)", orgID, login, login); err != nil {
		return nil, err
	}
	return r.toMFA(), nil
}

func (s *Store) ResetLoginFailures(ctx context.Context, userID string) error {
	return s.conn(ctx).Exec("UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE id = ?", userID).Error
}

// --- sessions

func (s *Store) CreateSession(ctx context.Context, m *mfa.Session) error {
	return translate(s.conn(ctx).Create(&session{
		ID: m.ID, UserID: m.UserID, TokenHash: m.TokenHash, IP: m.IP, UserAgent: m.UserAgent, MFA: m.MFA,
		AMR: strings.Join(m.AMR, ","), CreatedAt: m.CreatedAt, LastSeenAt: m.LastSeenAt, ExpiresAt: m.ExpiresAt,
	}).Error)
}

func (s *Store) SessionByTokenHash(ctx context.Context, hash string) (*mfa.Session, error) {
	var r session
	if err := first(s.conn(ctx), &r, "token_hash = ?", hash); err != nil {
		return nil, err
	}
	return r.toMFA(), nil
}

// SessionByID returns a session with its authentication methods.
func (s *Store) SessionByID(ctx context.Context, id string) (*mfa.Session, error) {
	var r session
	if err := first(s.conn(ctx), &r, "id = ?", id); err != nil {
		return nil, err
	}
	return r.toMFA(), nil
}

func (r *session) toMFA() *mfa.Session {
	var amr []string
	if r.AMR != "" {
		amr = strings.Split(r.AMR, ",")
	}
	return &mfa.Session{
		ID: r.ID, UserID: r.UserID, TokenHash: r.TokenHash, IP: r.IP, UserAgent: r.UserAgent, MFA: r.MFA, AMR: amr,
		CreatedAt: r.CreatedAt.UTC(), LastSeenAt: r.LastSeenAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
	}
}

func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	return s.conn(ctx).Model(&session{}).Where("id = ?", id).Update("last_seen_at", at).Error
}

func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return updated(s.conn(ctx).Where("id = ?", id).Delete(&session{}))
}

func (s *Store) DeleteUserSessions(ctx context.Context, userID, exceptID string) error {
	db := s.conn(ctx)
	if err := db.Where("user_id = ? AND id <> ?", userID, exceptID).Delete(&session{}).Error; err != nil {
		return err
	}
	return db.Where("user_id = ?", userID).Delete(&loginTicket{}).Error
}

// --- audit

func (s *Store) AddAuditEvent(ctx context.Context, e *mfa.AuditEvent) error {
	r, err := auditRow(e)
	if err != nil {
		return err
	}
	return translate(s.conn(ctx).Create(r).Error)
}

func auditRow(e *mfa.AuditEvent) (*auditEvent, error) {
	var details string
	if len(e.Details) > 0 {
		b, err := json.Marshal(e.Details)
		if err != nil {
			return nil, err
		}
		details = string(b)
	}
	return &auditEvent{
		ID: e.ID, OrganizationID: e.OrganizationID, ActorID: e.ActorID, SubjectID: e.SubjectID,
		Action: string(e.Action), IP: e.IP, UserAgent: e.UserAgent, Details: details, CreatedAt: e.CreatedAt,
	}, nil
}

func (s *Store) AddAuditEvents(ctx context.Context, es []mfa.AuditEvent) error {
	rows := make([]*auditEvent, len(es))
	for i := range es {
		r, err := auditRow(&es[i])
		if err != nil {
			return err
		}
		rows[i] = r
	}
	return translate(s.conn(ctx).Create(rows).Error)
}
