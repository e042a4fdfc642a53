package graph

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/twofoldauth/twofold/mfa"
)

// presentError gives every error an extensions.code. Domain errors keep
// their message; anything else is logged and shown as INTERNAL, so no SQL,
// stack or plugin detail reaches a client.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Err == nil {
			// Parse and validation errors, and input coercion failures: the
			// client sent something the schema refuses.
			if gqlErr.Extensions == nil {
				gqlErr.Extensions = map[string]any{}
			}
			// Our own codes stay; gqlgen's (GRAPHQL_VALIDATION_FAILED,
			// COMPLEXITY_LIMIT_EXCEEDED...) become BAD_USER_INPUT with the
			// original as the reason.
			if c, _ := gqlErr.Extensions["code"].(string); !slices.Contains(publicCodes, mfa.Code(c)) {
				if c != "" {
					gqlErr.Extensions["reason"] = c
				}
				gqlErr.Extensions["code"] = string(mfa.CodeBadUserInput)
			}
			return gqlErr
		}
		if strings.HasSuffix(err.Error(), "introspection disabled") {
			return &gqlerror.Error{Message: "introspection is for admins", Path: graphql.GetPath(ctx),
				Extensions: map[string]any{"code": string(mfa.CodeForbidden)}}
		}
		out := graphql.DefaultErrorPresenter(ctx, err)
		var me *mfa.Error
		if errors.As(err, &me) {
			out.Message = me.Message
			out.Extensions = map[string]any{"code": string(me.Code)}
			if me.Field != "" {
				out.Extensions["field"] = me.Field
			}
			if me.Reason != "" {
				out.Extensions["reason"] = me.Reason
			}
			return out
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			out.Message = "the request timed out"
			out.Extensions = map[string]any{"code": string(mfa.CodeUnavailable)}
			return out
		}
		log.ErrorContext(ctx, "graphql: internal error", "path", out.Path.String(), "err", err)
		out.Message = "internal error"
		out.Extensions = map[string]any{"code": string(mfa.CodeInternal)}
		return out
	}
}

var publicCodes = []mfa.Code{mfa.CodeBadUserInput, mfa.CodeUnauthenticated, mfa.CodeForbidden, mfa.CodeNotFound,
	mfa.CodeConflict, mfa.CodeRateLimited, mfa.CodeUnavailable, mfa.CodeInternal}

// recoverPanic turns a resolver panic into an INTERNAL error.
func recoverPanic(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "graphql: panic", "panic", p)
		return &mfa.Error{Code: mfa.CodeInternal, Message: "internal error"}
	}
}
