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
	v, err := viewer(ctx)
	if err != nil {
		return nil, err
	}
	if requires != nil && !v.User.Can(*requires) {
		return nil, &mfa.Error{Code: mfa.CodeForbidden, Message: "you need the " + string(*requires) + " permission"}
	}
	return next(ctx)
}
