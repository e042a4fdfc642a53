package graph

import (
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
	p := &model.LoginPayload{Status: res.Status}
	if res.Status == mfa.StatusAuthenticated {
		p.Token, p.User = ptr(res.Token), res.User
		req.Cookies.SetSession(res.Token, res.Session.ExpiresAt)
	}
	return p
}
