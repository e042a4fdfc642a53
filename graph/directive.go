package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/twofoldauth/twofold/mfa"
)

// auth implements @auth(requires:): UNAUTHENTICATED without a session,
// FORBIDDEN without the permission. mfa checks again, with the
// organization scoping; this keeps the schema honest and fails early.
func auth(ctx context.Context, _ any, next graphql.Resolver, requires *mfa.Permission) (any, error) {
	if requestFrom(ctx).Operator != nil {
		// Operator credentials are no organization user's session.
		return nil, errOperatorNotUser
	}
	v, err := viewer(ctx)
	if err != nil {
		return nil, err
	}
	if requires != nil && !v.User.Can(*requires) {
		return nil, &mfa.Error{Code: mfa.CodeForbidden, Message: "you need the " + string(*requires) + " permission"}
	}
	return next(ctx)
}

// errOperatorNotUser refuses organization operations to operator
// credentials.
var errOperatorNotUser = &mfa.Error{Code: mfa.CodeForbidden, Reason: "NOT_AN_ORGANIZATION_USER",
	Message: "operator credentials act on organizations, not in them: log in as a user of the organization"}

// operatorOnly implements @operator: UNAUTHENTICATED without credentials,
// FORBIDDEN for an organization user's session. mfa checks again.
func operatorOnly(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
	r := requestFrom(ctx)
	switch {
	case r.Operator != nil:
		return next(ctx)
	case r.Viewer != nil:
		return nil, &mfa.Error{Code: mfa.CodeForbidden, Reason: "OPERATOR_ONLY", Message: "only the operator may do this"}
	}
	return nil, &mfa.Error{Code: mfa.CodeUnauthenticated, Message: "operator credentials required"}
}

// operator returns the request's operator (nil for everyone else).
func operator(ctx context.Context) *mfa.Operator { return requestFrom(ctx).Operator }
