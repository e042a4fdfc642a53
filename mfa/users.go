package mfa

import (
	"context"
	"errors"
	"net/mail"
	"regexp"
	"slices"
	"strings"
)

var (
	usernamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._@+-]{0,63}$`)
	slugPattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// CreateUserInput is an admin's new user.
type CreateUserInput struct {
	Username    string
	Email       string
	Password    string // optional: a user without one cannot log in by password
	DisplayName string
	UserType    string
	CompanyID   string
	Permissions []Permission
}

// UpdateUserInput changes the set fields of a user.
type UpdateUserInput struct {
	UserID      string
	Email       *string
	DisplayName *string
	UserType    *string
	// CompanyID "" removes the user from their company.
	CompanyID *string
	// Permissions nil leaves them unchanged; empty removes them all.
	Permissions []Permission
}

// Bootstrap creates the organization and its first admin (with every
// permission) unless the organization exists. It reports whether it created
// them.
func (s *Service) Bootstrap(ctx context.Context, orgSlug, adminUsername, password string) (bool, error) {
	slug := strings.ToLower(strings.TrimSpace(orgSlug))
	if !slugPattern.MatchString(slug) {
		return false, invalidInput("organization", "organization must be 1-63 lowercase letters, digits or '-'")
	}
	username := normalizeLogin(adminUsername)
	if !usernamePattern.MatchString(username) {
		return false, invalidInput("username", "username must be 1-64 letters, digits or . _ @ + -")
	}
	if err := s.cfg.Password.check("password", password, username); err != nil {
		return false, err
	}
	if _, err := s.store.OrganizationBySlug(ctx, slug); err == nil {
		return false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	hash, err := s.cfg.Password.hash(password)
	if err != nil {
		return false, err
	}
	now := s.now()
	org := &Organization{ID: newID(), Slug: slug, Name: slug, CreatedAt: now}
	admin := &User{
		ID: newID(), OrganizationID: org.ID, Username: username, Email: username + "@" + slug + ".invalid",
		DisplayName: "Administrator", PasswordHash: hash, Status: UserActive,
		Permissions: slices.Clone(AllPermissions), CreatedAt: now, UpdatedAt: now,
	}
	err = s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.CreateOrganization(ctx, org); err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, admin); err != nil {
			return err
		}
		return s.audit(ctx, tx, org.ID, "", admin.ID, AuditOrganizationBooted, map[string]string{"organization": slug, "admin": username})
	})
	if errors.Is(err, ErrDuplicate) {
		return false, nil // another server bootstrapped it first
	}
	return err == nil, err
}

func normalizeLogin(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// CreateUser adds a user to the viewer's organization.
func (s *Service) CreateUser(ctx context.Context, v *Viewer, in CreateUserInput) (*User, error) {
	if !v.User.Can(PermissionManageUsers) {
		return nil, errForbidden
	}
	now := s.now()
	u := &User{ID: newID(), OrganizationID: v.User.OrganizationID, Status: UserActive, CreatedAt: now, UpdatedAt: now}
	u.Username = normalizeLogin(in.Username)
	if !usernamePattern.MatchString(u.Username) {
		return nil, invalidInput("username", "username must be 1-64 letters, digits or . _ @ + -, starting with a letter or digit")
	}
	if err := s.applyProfile(ctx, v, u, &in.Email, &in.DisplayName, &in.UserType, &in.CompanyID, in.Permissions); err != nil {
		return nil, err
	}
	if in.Password != "" {
		if err := s.cfg.Password.check("password", in.Password, u.Username); err != nil {
			return nil, err
		}
		h, err := s.cfg.Password.hash(in.Password)
		if err != nil {
			return nil, err
		}
		u.PasswordHash = h
	}
	err := s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return s.audit(ctx, tx, u.OrganizationID, v.User.ID, u.ID, AuditUserCreated, map[string]string{"username": u.Username})
	})
	if errors.Is(err, ErrDuplicate) {
		return nil, &Error{Code: CodeConflict, Message: "a user with this username or email already exists"}
	}
	return u, err
}

// applyProfile validates and sets the non-nil profile fields of u.
func (s *Service) applyProfile(ctx context.Context, v *Viewer, u *User, email, displayName, userType, companyID *string, perms []Permission) error {
	if email != nil {
		e := normalizeLogin(*email)
		addr, err := mail.ParseAddress(e)
		if err != nil || addr.Address != e || len(e) > 254 {
			return invalidInput("email", "email is not a valid address")
		}
		u.Email = e
	}
	if displayName != nil {
		d, err := text("displayName", *displayName, 0, 128)
		if err != nil {
			return err
		}
		u.DisplayName = d
	}
	if userType != nil {
		t, err := text("userType", *userType, 0, 64)
		if err != nil {
			return err
		}
		u.UserType = t
	}
	if companyID != nil {
		if *companyID != "" {
			if _, err := s.company(ctx, v, *companyID); err != nil {
				return err
			}
		}
		u.CompanyID = *companyID
	}
	if perms != nil && !slices.Equal(perms, u.Permissions) {
		// Granting or revoking admin rights is organization management, so a
		// user manager cannot raise anyone (themselves included) above them.
		if !v.User.Can(PermissionManageOrganization) {
			return &Error{Code: CodeForbidden, Field: "permissions", Message: "only organization managers may change permissions"}
		}
		ps := []Permission{}
		for _, p := range perms {
			if !p.valid() {
				return invalidInput("permissions", "unknown permission %q", p)
			}
			if !slices.Contains(ps, p) {
				ps = append(ps, p)
			}
		}
		u.Permissions = ps
	}
	return nil
}

// UpdateUser changes a user of the viewer's organization. Removing any of
// the user's permissions ends their sessions; removing the last active
// organization manager's MANAGE_ORGANIZATION is a CONFLICT.
func (s *Service) UpdateUser(ctx context.Context, v *Viewer, in UpdateUserInput) (*User, error) {
	u, err := s.manageableUser(ctx, v, in.UserID)
	if err != nil {
		return nil, err
	}
	before := slices.Clone(u.Permissions)
	if err := s.applyProfile(ctx, v, u, in.Email, in.DisplayName, in.UserType, in.CompanyID, in.Permissions); err != nil {
		return nil, err
	}
	var removed []string
	for _, p := range before {
		if !slices.Contains(u.Permissions, p) {
			removed = append(removed, string(p))
		}
	}
	u.UpdatedAt = s.now()
	err = s.store.Transaction(ctx, func(tx Store) error {
		if in.Permissions != nil {
			if err := s.keepAManager(ctx, tx, u); err != nil {
				return err
			}
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if len(removed) > 0 {
			// Whatever the sessions were trusted with, they no longer are.
			if err := s.endSessions(ctx, tx, v, u, map[string]string{"reason": "permissions.removed", "permissions": strings.Join(removed, ",")}); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, u.OrganizationID, v.User.ID, u.ID, AuditUserUpdated, nil)
	})
	if errors.Is(err, ErrDuplicate) {
		return nil, &Error{Code: CodeConflict, Field: "email", Message: "a user with this email already exists"}
	}
	return u, err
}

// SetUserActive deactivates (ending every session) or reactivates a user.
func (s *Service) SetUserActive(ctx context.Context, v *Viewer, userID string, active bool) (*User, error) {
	u, err := s.manageableUser(ctx, v, userID)
	if err != nil {
		return nil, err
	}
	if u.ID == v.User.ID && !active {
		return nil, &Error{Code: CodeForbidden, Message: "you cannot deactivate yourself"}
	}
	status, action := UserActive, AuditUserReactivated
	if !active {
		status, action = UserDeactivated, AuditUserDeactivated
	}
	if u.Status == status {
		return u, nil
	}
	u.Status, u.UpdatedAt = status, s.now()
	err = s.store.Transaction(ctx, func(tx Store) error {
		if !active {
			if err := s.keepAManager(ctx, tx, u); err != nil {
				return err
			}
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if !active {
			if err := s.endSessions(ctx, tx, v, u, map[string]string{"reason": string(AuditUserDeactivated)}); err != nil {
				return err
			}
			if err := s.recycleSeat(ctx, tx, v, u); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, u.OrganizationID, v.User.ID, u.ID, action, nil)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// recycleSeat resets the MFA of a user being deactivated (factors,
// recovery codes, trusted browsers) and gives their seat back at once, as
// the seed product recycles the licence of a disabled account. Reactivated,
// they enrol again if a seat is free.
func (s *Service) recycleSeat(ctx context.Context, tx Store, v *Viewer, u *User) error {
	enrolled := u.MFAEnrolled
	if err := s.removeMFAOf(ctx, tx, u, true); err != nil {
		return err
	}
	if !enrolled {
		return nil
	}
	return s.audit(ctx, tx, u.OrganizationID, v.User.ID, u.ID, AuditMFAReset, map[string]string{"reason": string(AuditUserDeactivated)})
}

// AuditSessionsEnded records that an admin's action ended a user's
// sessions; details.reason says which action (mfa.reset, user.deactivated,
// permissions.removed).
const AuditSessionsEnded AuditAction = "sessions.ended"

// endSessions ends every session of u, through tx, because the trust they
// were opened with has ended (MFA reset, deactivation, permissions removed).
// When u is the viewer acting on themselves, the session that asked is kept,
// as a password change keeps it.
func (s *Service) endSessions(ctx context.Context, tx Store, v *Viewer, u *User, details map[string]string) error {
	except := ""
	if u.ID == v.User.ID {
		except = v.Session.ID
	}
	if err := tx.DeleteUserSessions(ctx, u.ID, except); err != nil {
		return err
	}
	return s.audit(ctx, tx, u.OrganizationID, v.User.ID, u.ID, AuditSessionsEnded, details)
}

// errLastManager refuses a change that would leave an organization without
// an active organization manager (no one could then grant permissions or
// change policies).
var errLastManager = &Error{Code: CodeConflict, Reason: "LAST_ORGANIZATION_MANAGER",
	Message: "an organization keeps at least one active organization manager: grant MANAGE_ORGANIZATION to someone else first"}

// keepAManager refuses, inside tx, to write u (as changed) when u is the
// organization's only active manager and would stop being one. The locking
// read serializes concurrent decisions, so two managers demoting or
// deactivating each other at once leave one.
func (s *Service) keepAManager(ctx context.Context, tx Store, u *User) error {
	if u.Status == UserActive && slices.Contains(u.Permissions, PermissionManageOrganization) {
		return nil
	}
	ids, err := tx.LockActiveManagers(ctx, u.OrganizationID)
	if err != nil {
		return err
	}
	if slices.Contains(ids, u.ID) && len(ids) == 1 {
		return errLastManager
	}
	return nil
}

// UnlockUser clears a user's lockout and failure count.
func (s *Service) UnlockUser(ctx context.Context, v *Viewer, userID string) (*User, error) {
	u, err := s.manageableUser(ctx, v, userID)
	if err != nil {
		return nil, err
	}
	err = s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.ResetLoginFailures(ctx, u.ID); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, u.OrganizationID, v.User.ID, u.ID, AuditUserUnlocked, nil); err != nil {
			return err
		}
		return s.notify(ctx, tx, u.OrganizationID, []User{*u}, EventUnlocked, actorData(v))
	})
	u.FailedAttempts, u.LockedUntil = 0, nil
	return u, err
}

// manageableUser loads a user of the viewer's organization that the viewer
// may manage. Users of other organizations are NOT_FOUND, not FORBIDDEN, so
// ids of other tenants reveal nothing.
func (s *Service) manageableUser(ctx context.Context, v *Viewer, userID string) (*User, error) {
	if !v.User.Can(PermissionManageUsers) {
		return nil, errForbidden
	}
	u, err := s.User(ctx, v, userID)
	if err != nil {
		return nil, err
	}
	if err := mayManage(v, u); err != nil {
		return nil, err
	}
	return u, nil
}

// mayManage is the rule that protects organization managers: only another
// organization manager may act on one. Every admin action on a user of the
// organization passes through it (manageableUser, trusted browsers).
func mayManage(v *Viewer, u *User) error {
	if u.Can(PermissionManageOrganization) && !v.User.Can(PermissionManageOrganization) {
		return &Error{Code: CodeForbidden, Message: "only organization managers may change an organization manager"}
	}
	return nil
}

// User returns a user of the viewer's organization. Anyone may read
// themselves; reading others needs MANAGE_USERS.
func (s *Service) User(ctx context.Context, v *Viewer, userID string) (*User, error) {
	if userID != v.User.ID && !v.User.Can(PermissionManageUsers) {
		return nil, errForbidden
	}
	if !validID(userID) {
		return nil, invalidInput("userId", "not a valid id")
	}
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return nil, notFound(err, "user")
	}
	if u.OrganizationID != v.User.OrganizationID {
		return nil, newError(CodeNotFound, "user not found")
	}
	return u, nil
}

// Users lists the viewer's organization's users, one keyset page. Every
// filter, sort and count, mfaRequired included, runs in SQL: no cap.
func (s *Service) Users(ctx context.Context, v *Viewer, f UserFilter, order UserOrderField, desc bool, p Page) (*Paged[User], error) {
	if !v.User.Can(PermissionManageUsers) {
		return nil, errForbidden
	}
	if len(f.Search) > 128 {
		return nil, invalidInput("filter.search", "search must be at most 128 characters")
	}
	if f.CompanyID != "" && !validID(f.CompanyID) {
		return nil, invalidInput("filter.companyId", "not a valid id")
	}
	if order == "" {
		order = UserOrderUsername
	}
	if err := checkCursor(p, UserOrderKey(order, desc)); err != nil {
		return nil, err
	}
	q := UserQuery{OrganizationID: v.User.OrganizationID, Filter: f, OrderBy: order, Desc: desc, Page: p, Now: s.now()}
	out, err := s.store.Users(ctx, q)
	return out, listError(err)
}

// EnrolledUsers lists the organization's users who have an active factor.
func (s *Service) EnrolledUsers(ctx context.Context, v *Viewer, f UserFilter, p Page) (*Paged[User], error) {
	enrolled := true
	f.MFAEnrolled = &enrolled
	return s.Users(ctx, v, f, UserOrderUsername, false, p)
}

// MFARequired reports whether MFA is required for the user and enforced now:
// as a list read resolved it, else resolved for this one user.
func (s *Service) MFARequired(ctx context.Context, u *User) (bool, error) {
	if u.MFARequired != nil {
		return *u.MFARequired, nil
	}
	pol, err := s.effectivePolicy(ctx, s.store, u)
	if err != nil {
		return false, err
	}
	return pol.Enforced(s.now()), nil
}

// CreateCompany adds a company to the viewer's organization.
func (s *Service) CreateCompany(ctx context.Context, v *Viewer, name string) (*Company, error) {
	if !v.User.Can(PermissionManageUsers) {
		return nil, errForbidden
	}
	n, err := text("name", name, 1, 128)
	if err != nil {
		return nil, err
	}
	c := &Company{ID: newID(), OrganizationID: v.User.OrganizationID, Name: n, CreatedAt: s.now()}
	err = s.store.Transaction(ctx, func(tx Store) error {
		if err := tx.CreateCompany(ctx, c); err != nil {
			return err
		}
		return s.audit(ctx, tx, c.OrganizationID, v.User.ID, "", AuditCompanyCreated, map[string]string{"company": c.Name})
	})
	if errors.Is(err, ErrDuplicate) {
		return nil, &Error{Code: CodeConflict, Field: "name", Message: "a company with this name already exists"}
	}
	return c, err
}

// company loads a company of the viewer's organization; any member may read
// their organization's companies.
func (s *Service) company(ctx context.Context, v *Viewer, id string) (*Company, error) {
	if !validID(id) {
		return nil, invalidInput("companyId", "not a valid id")
	}
	c, err := s.store.CompanyByID(ctx, id)
	if err == nil && c.OrganizationID != v.User.OrganizationID {
		err = ErrNotFound
	}
	if errors.Is(err, ErrNotFound) {
		return nil, &Error{Code: CodeNotFound, Field: "companyId", Message: "company not found"}
	}
	return c, err
}

// Locked reports whether the user is locked out now.
func (s *Service) Locked(u *User) bool { return u.Locked(s.now()) }
