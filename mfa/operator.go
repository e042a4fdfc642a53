package mfa

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Operator is whoever runs Twofold for many organizations (the vendor). An
// operator is not a user of any organization: operator calls carry no
// viewer, and organization permissions never reach operator operations.
type Operator struct {
	Name string
}

// OperatorToken is one configured operator credential: a name and the
// SHA-256 of the token (the configuration holds no secret). Several may be
// configured at once, for rotation.
type OperatorToken struct {
	Name   string
	SHA256 [sha256.Size]byte
}

// operatorTokenPrefix marks operator tokens, so a leaked one is recognised.
const operatorTokenPrefix = "tfop_"

// NewOperatorToken returns a new random operator token and its
// configuration entry (name:sha256hex).
func NewOperatorToken(name string) (token, entry string, err error) {
	if !operatorNamePattern(name) {
		return "", "", fmt.Errorf("operator name must be 1-64 letters, digits, '.', '_' or '-'")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = operatorTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(token))
	return token, name + ":" + hex.EncodeToString(sum[:]), nil
}

func operatorNamePattern(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// ParseOperatorTokens reads TWOFOLD_OPERATOR_TOKENS: "name:sha256hex,...".
// Errors never repeat the value (it may hold a token put there by mistake).
func ParseOperatorTokens(v string) ([]OperatorToken, error) {
	var out []OperatorToken
	for i, pair := range strings.Split(v, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		name, hexSum, ok := strings.Cut(pair, ":")
		sum, err := hex.DecodeString(hexSum)
		if !ok || !operatorNamePattern(name) || err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("entry %d is not name:sha256-hex-of-token (64 hex digits); `twofold operator token NAME` prints one", i+1)
		}
		t := OperatorToken{Name: name}
		copy(t.SHA256[:], sum)
		out = append(out, t)
	}
	return out, nil
}

// AuthenticateOperator returns the operator whose token this is, or nil.
// The token's SHA-256 is compared with every configured one in constant
// time, without stopping at a match.
func (s *Service) AuthenticateOperator(token string) *Operator {
	if len(s.cfg.OperatorTokens) == 0 || !strings.HasPrefix(token, operatorTokenPrefix) || len(token) > 128 {
		return nil
	}
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range s.cfg.OperatorTokens {
		if subtle.ConstantTimeCompare(sum[:], s.cfg.OperatorTokens[i].SHA256[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil
	}
	return &Operator{Name: s.cfg.OperatorTokens[found].Name}
}

// errNotOperator refuses operator operations to everyone else.
var errNotOperator = &Error{Code: CodeForbidden, Reason: "OPERATOR_ONLY", Message: "only the operator may do this"}

func checkOperator(op *Operator) error {
	if op == nil {
		return errNotOperator
	}
	return nil
}

// Audit actions of operator operations; details.actor is
// "operator:NAME".
const (
	AuditOrganizationCreated   AuditAction = "organization.created"
	AuditOrganizationSuspended AuditAction = "organization.suspended"
	AuditOrganizationResumed   AuditAction = "organization.resumed"
)

func operatorDetails(op *Operator, d map[string]string) map[string]string {
	if d == nil {
		d = map[string]string{}
	}
	d["actor"] = "operator:" + op.Name
	return d
}

// DefaultActivationLinkTTL bounds a first admin's activation link.
const DefaultActivationLinkTTL = 72 * time.Hour

// CreateOrganizationRequest is an operator's new organization.
type CreateOrganizationRequest struct {
	Slug, Name    string
	AdminUsername string
	AdminEmail    string
}

// CreateOrganization creates an organization and its first admin (every
// permission, no password). The admin is mailed an activation link, a
// password-reset link valid DefaultActivationLinkTTL, written in the same
// transaction. The organization has no licence: unlimited seats until
// setLicense.
func (s *Service) CreateOrganization(ctx context.Context, op *Operator, req CreateOrganizationRequest) (*Organization, *User, error) {
	if err := checkOperator(op); err != nil {
		return nil, nil, err
	}
	slug := strings.ToLower(strings.TrimSpace(req.Slug))
	if !slugPattern.MatchString(slug) {
		return nil, nil, invalidInput("slug", "slug must be 1-63 lowercase letters, digits or '-'")
	}
	name, err := text("name", req.Name, 1, 128)
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	org := &Organization{ID: newID(), Slug: slug, Name: name, CreatedAt: now}
	admin := &User{ID: newID(), OrganizationID: org.ID, Status: UserActive, Permissions: slices.Clone(AllPermissions),
		DisplayName: "Administrator", CreatedAt: now, UpdatedAt: now}
	admin.Username = normalizeLogin(req.AdminUsername)
	if !usernamePattern.MatchString(admin.Username) {
		return nil, nil, invalidInput("firstAdmin.username", "username must be 1-64 letters, digits or . _ @ + -, starting with a letter or digit")
	}
	if err := s.applyProfile(ctx, nil, admin, &req.AdminEmail, nil, nil, nil, nil); err != nil {
		if e := (*Error)(nil); errors.As(err, &e) && e.Field == "email" {
			return nil, nil, invalidInput("firstAdmin.email", "email is not a valid address")
		}
		return nil, nil, err
	}
	if !deliverable(admin.Email) {
		return nil, nil, invalidInput("firstAdmin.email", "the first admin needs a deliverable email address for the activation link")
	}
	token, hash := newToken()
	link := &RecoveryLink{ID: newID(), Purpose: LinkPasswordReset, OrganizationID: org.ID, Subject: admin.ID, UserID: admin.ID,
		TokenHash: hash, CreatedAt: now, ExpiresAt: now.Add(DefaultActivationLinkTTL)}
	err = s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.CreateOrganization(ctx, org); err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, admin); err != nil {
			return err
		}
		if _, err := tx.CreateRecoveryLink(ctx, link, now.Add(-time.Hour), 1<<30); err != nil {
			return err
		}
		d := operatorDetails(op, map[string]string{"organization": slug, "admin": admin.Username})
		if err := s.audit(ctx, tx, org.ID, "", admin.ID, AuditOrganizationCreated, d); err != nil {
			return err
		}
		return s.notify(ctx, tx, org.ID, []User{*admin}, EventAccountActivation, map[string]string{
			"link": s.publicLink("reset", token), "expires_in": humanDuration(DefaultActivationLinkTTL),
		})
	})
	if errors.Is(err, ErrDuplicate) {
		return nil, nil, &Error{Code: CodeConflict, Field: "slug", Message: "an organization with this slug exists"}
	}
	if err != nil {
		return nil, nil, err
	}
	return org, admin, nil
}

// Organizations lists every organization with its licence (operator).
func (s *Service) Organizations(ctx context.Context, op *Operator, p Page) (*Paged[OrganizationWithLicense], error) {
	if err := checkOperator(op); err != nil {
		return nil, err
	}
	if err := checkCursor(p, OrganizationOrderKey); err != nil {
		return nil, err
	}
	out, err := s.store.OrganizationsPage(ctx, p)
	if errors.Is(err, ErrBadCursor) {
		return nil, invalidInput("after", "after is not a valid cursor")
	}
	if err != nil {
		return nil, err
	}
	for i := range out.Items {
		if out.Items[i].License == nil {
			out.Items[i].License = defaultLicense(out.Items[i].ID)
		}
	}
	return out, nil
}

// operatorOrganization loads an organization an operator names.
func (s *Service) operatorOrganization(ctx context.Context, op *Operator, id string) (*Organization, error) {
	if err := checkOperator(op); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, invalidInput("organizationId", "not a valid id")
	}
	org, err := s.store.OrganizationByID(ctx, id)
	if err != nil {
		return nil, notFound(err, "organization")
	}
	return org, nil
}

// MaxSeats bounds a licence.
const MaxSeats = 10_000_000

// SetLicenseRequest is an operator's licence change. Seats nil removes the
// limit.
type SetLicenseRequest struct {
	OrganizationID string
	Seats          *int
	MFASubscribed  bool
}

// SetLicense sets an organization's seats and subscription (operator). The
// used count is recounted under the licence's lock; fewer seats than
// holders keeps every holder (nobody new may enrol until usage drops), and
// alerts are decided as for a seat taken.
func (s *Service) SetLicense(ctx context.Context, op *Operator, req SetLicenseRequest) (*OrganizationWithLicense, error) {
	org, err := s.operatorOrganization(ctx, op, req.OrganizationID)
	if err != nil {
		return nil, err
	}
	if req.Seats != nil && (*req.Seats < 0 || *req.Seats > MaxSeats) {
		return nil, invalidInput("seats", "seats must be between 0 and %d", MaxSeats)
	}
	var out *License
	err = s.store.Transaction(ctx, func(tx Store) error {
		l, err := tx.LockLicense(ctx, org.ID)
		if err != nil {
			return err
		}
		old := *l
		if l.Used, err = tx.CountSeatHolders(ctx, org.ID); err != nil {
			return err
		}
		l.Seats, l.MFASubscribed, l.UpdatedAt = req.Seats, req.MFASubscribed, s.now()
		if err := tx.SaveLicense(ctx, l); err != nil {
			return err
		}
		d := map[string]string{"used": itoa(l.Used), "mfa_subscribed.old": boolString(old.MFASubscribed), "mfa_subscribed.new": boolString(l.MFASubscribed),
			"seats.old": seatsString(old.Seats), "seats.new": seatsString(l.Seats)}
		if err := s.audit(ctx, tx, org.ID, "", "", AuditLicenseChanged, operatorDetails(op, d)); err != nil {
			return err
		}
		out = l
		return s.afterSeatChange(ctx, tx, l)
	})
	if err != nil {
		return nil, err
	}
	return &OrganizationWithLicense{Organization: *org, License: out}, nil
}

func seatsString(n *int) string {
	if n == nil {
		return "unlimited"
	}
	return itoa(*n)
}

// errSuspended answers a correct password of a suspended organization's
// user.
var errSuspended = &Error{Code: CodeForbidden, Reason: "ORGANIZATION_SUSPENDED",
	Message: "this organization is suspended: sign-in is not possible; contact your administrator"}

// SetOrganizationSuspended suspends or resumes an organization (operator).
// Suspending ends every session and login in progress of its users (so it
// takes effect at once) and refuses their logins with FORBIDDEN, reason
// ORGANIZATION_SUSPENDED, after a correct password; nothing is deleted.
// Resuming lets them log in again.
func (s *Service) SetOrganizationSuspended(ctx context.Context, op *Operator, orgID string, suspended bool) (*OrganizationWithLicense, error) {
	org, err := s.operatorOrganization(ctx, op, orgID)
	if err != nil {
		return nil, err
	}
	var out *License
	err = s.store.Transaction(ctx, func(tx Store) error {
		l, err := tx.LockLicense(ctx, org.ID)
		if err != nil {
			return err
		}
		out = l
		if (l.SuspendedAt != nil) == suspended {
			return nil
		}
		now := s.now()
		action := AuditOrganizationResumed
		l.SuspendedAt, l.UpdatedAt = nil, now
		if suspended {
			l.SuspendedAt, action = &now, AuditOrganizationSuspended
			if err := tx.DeleteOrganizationSessions(ctx, org.ID); err != nil {
				return err
			}
		}
		if err := tx.SaveLicense(ctx, l); err != nil {
			return err
		}
		return s.audit(ctx, tx, org.ID, "", "", action, operatorDetails(op, nil))
	})
	if err != nil {
		return nil, err
	}
	return &OrganizationWithLicense{Organization: *org, License: out}, nil
}
