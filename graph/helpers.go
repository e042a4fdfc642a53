package graph

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/twofoldauth/twofold/graph/model"
	"github.com/twofoldauth/twofold/mfa"
)

func deref[T any](p *T, fallback T) T {
	if p == nil {
		return fallback
	}
	return *p
}

func ptr[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

// loginPayload maps a login step's result and sets the session cookie when
// the login is complete.
func loginPayload(req *Request, res *mfa.LoginResult) *model.LoginPayload {
	p := &model.LoginPayload{
		Status: res.Status, Ticket: ptr(res.Ticket), Factors: res.Factors, AllowedFactorTypes: res.AllowedFactorTypes,
		EnforceFrom: res.EnforceFrom, TrustBrowserOffered: res.TrustBrowserOffered, RequestedFactorTypes: res.RequestedFactorTypes,
	}
	if res.Ticket != "" {
		p.TicketExpiresAt = &res.TicketExpiresAt
	}
	if res.Status == mfa.StatusAuthenticated {
		p.Token, p.User = ptr(res.Token), res.User
		p.MfaSkippedReason = ptr(res.MFASkippedReason)
		setLoginCookies(req, res)
	}
	return p
}

func (r *mutationResolver) setActive(ctx context.Context, userID string, active bool) (*model.UserPayload, error) {
	v, err := viewer(ctx)
	if err != nil {
		return nil, err
	}
	u, err := r.Service.SetUserActive(ctx, v, userID, active)
	if err != nil {
		return nil, err
	}
	return &model.UserPayload{User: u}, nil
}

// auditUser loads an event's actor or subject; users deleted since read as
// null.
func (r *auditEventResolver) auditUser(ctx context.Context, id string) (*mfa.User, error) {
	if id == "" {
		return nil, nil
	}
	v, err := viewer(ctx)
	if err != nil {
		return nil, err
	}
	u, err := r.Service.User(ctx, v, id)
	var me *mfa.Error
	if errors.As(err, &me) && (me.Code == mfa.CodeNotFound || me.Code == mfa.CodeForbidden) {
		return nil, nil
	}
	return u, err
}

// rawJSON returns v as JSON for a JSON field, null when empty.
func rawJSON(v map[string]string) (model.JSON, error) {
	if len(v) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(v)
	return model.JSON(b), err
}

// setLoginCookies gives a browser the cookies of a finished login.
func setLoginCookies(req *Request, res *mfa.LoginResult) {
	req.Cookies.SetSession(res.Token, res.Session.ExpiresAt)
	if res.TrustedBrowserToken != "" {
		req.Cookies.SetTrustedBrowser(res.TrustedBrowserToken, res.TrustedBrowserExpiresAt)
	}
}

func scope(in *model.PolicyScopeInput) mfa.PolicyScope {
	if in == nil {
		return mfa.PolicyScope{}
	}
	return mfa.PolicyScope{CompanyID: deref(in.CompanyID, ""), UserType: deref(in.UserType, ""), UserID: deref(in.UserID, "")}
}

func ok(err error) (*model.OkPayload, error) {
	if err != nil {
		return nil, err
	}
	return &model.OkPayload{Ok: true}, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// verifyPayload maps a finished second step and sets the browser's cookies.
func verifyPayload(req *Request, res *mfa.LoginResult) *model.VerifyFactorPayload {
	p := &model.VerifyFactorPayload{Status: res.Status}
	if res.Status == mfa.StatusAuthenticated {
		p.Token, p.User, p.TrustedBrowserToken = ptr(res.Token), res.User, ptr(res.TrustedBrowserToken)
		setLoginCookies(req, res)
	}
	return p
}

func metadataBool(m map[string]string, key string) *bool {
	v, ok := m[key]
	if !ok {
		return nil
	}
	b := v == "true"
	return &b
}
