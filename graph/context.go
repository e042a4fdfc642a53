package graph

import (
	"context"
	"time"

	"github.com/twofoldauth/twofold/mfa"
)

// Cookies is what resolvers need of the HTTP exchange: browser cookies for
// the session and the trusted-browser token. The server implements it per
// request; clients that use bearer tokens simply ignore the cookies.
type Cookies interface {
	SetSession(token string, expires time.Time)
	ClearSession()
	SetTrustedBrowser(token string, expires time.Time)
	// TrustedBrowser returns the trusted-browser cookie's value, if any.
	TrustedBrowser() string
}

// Request is the per-request state the HTTP layer hands to resolvers.
type Request struct {
	// Viewer is nil for anonymous requests.
	Viewer *mfa.Viewer
	// Operator is set for a request with an operator token (and then
	// Viewer is nil: an operator is no organization's user).
	Operator *mfa.Operator
	Cookies  Cookies
}

type requestKey struct{}

// WithRequest returns ctx carrying r.
func WithRequest(ctx context.Context, r *Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

func requestFrom(ctx context.Context) *Request {
	if r, ok := ctx.Value(requestKey{}).(*Request); ok {
		return r
	}
	return &Request{Cookies: noCookies{}}
}

// viewer returns the logged-in viewer or an UNAUTHENTICATED error. The
// @auth directive has usually checked already; resolvers call this to get
// the value.
func viewer(ctx context.Context) (*mfa.Viewer, error) {
	if v := requestFrom(ctx).Viewer; v != nil {
		return v, nil
	}
	return nil, &mfa.Error{Code: mfa.CodeUnauthenticated, Message: "authentication required"}
}

type noCookies struct{}

func (noCookies) SetSession(string, time.Time)        {}
func (noCookies) ClearSession()                       {}
func (noCookies) SetTrustedBrowser(string, time.Time) {}
func (noCookies) TrustedBrowser() string              { return "" }

// RequestFrom returns the request state set by WithRequest (an anonymous
// one when unset).
func RequestFrom(ctx context.Context) *Request { return requestFrom(ctx) }
