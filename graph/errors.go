package graph

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/twofoldauth/twofold/mfa"
)

// presentError gives every error an extensions.code. Domain errors keep
// their message; a dependency that is down answers UNAVAILABLE; anything
// else is logged and shown as INTERNAL, so no SQL, stack or plugin detail
// reaches a client. schema is used to name the type of a refused argument.
func presentError(log *slog.Logger, schema *ast.Schema) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Err == nil {
			// Parse and validation errors, and input coercion failures: the
			// client sent something the schema refuses.
			if gqlErr.Extensions == nil {
				gqlErr.Extensions = map[string]any{}
			}
			// gqlgen's transport quotes the whole body back when it is not
			// a JSON request: say what is wrong without echoing it.
			if strings.HasPrefix(gqlErr.Message, "json request body could not be decoded") ||
				strings.HasPrefix(gqlErr.Message, "could not read request body") {
				gqlErr.Message = "the request body is not a GraphQL request: send JSON with a query string"
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
		if field, typ, ok := argumentError(ctx, schema, err); ok {
			return &gqlerror.Error{Message: badArgumentMessage(field, typ), Path: graphql.GetPath(ctx),
				Extensions: map[string]any{"code": string(mfa.CodeBadUserInput), "field": field}}
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
		if errors.Is(err, mfa.ErrUnavailable) {
			log.WarnContext(ctx, "graphql: dependency unavailable", "path", out.Path.String(), "err", err)
			out.Message = "the service is temporarily unavailable; try again"
			out.Extensions = map[string]any{"code": string(mfa.CodeUnavailable)}
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

// argumentError recognises a failure to coerce a field's argument (a
// malformed Time, say): gqlgen reports it from the field context before
// arguments are set, wrapped with the path of the offending input field.
// It returns that path (without a leading "input") and the expected type.
func argumentError(ctx context.Context, schema *ast.Schema, err error) (field, typ string, ok bool) {
	var gqlErr *gqlerror.Error
	fc := graphql.GetFieldContext(ctx)
	if !errors.As(err, &gqlErr) || gqlErr.Err == nil || fc == nil || fc.Args != nil ||
		fc.Field.Field == nil || len(fc.Field.Arguments) == 0 || fc.Field.Definition == nil {
		return "", "", false
	}
	var me *mfa.Error
	if errors.As(err, &me) {
		return "", "", false
	}
	// The error's path is the field's path followed by the argument path;
	// the argument's type is followed along it.
	own := len(fc.Path())
	if len(gqlErr.Path) <= own {
		return "", "", false
	}
	var names []string
	var t *ast.Type
	for _, el := range gqlErr.Path[own:] {
		name, isName := el.(ast.PathName)
		switch {
		case !isName:
			if t != nil {
				t = t.Elem
			}
			continue
		case len(names) == 0:
			if arg := fc.Field.Definition.Arguments.ForName(string(name)); arg != nil {
				t = arg.Type
			}
		default:
			var def *ast.Definition
			if t != nil && schema != nil {
				def = schema.Types[t.Name()]
			}
			t = nil
			if def != nil {
				if f := def.Fields.ForName(string(name)); f != nil {
					t = f.Type
				}
			}
		}
		names = append(names, string(name))
	}
	if len(names) > 1 && names[0] == "input" {
		names = names[1:]
	}
	if t != nil {
		typ = t.Name()
	}
	return strings.Join(names, "."), typ, true
}

// badArgumentMessage says what is wrong with an input field, naming the
// expected form for the scalars whose form is not obvious.
func badArgumentMessage(field, typ string) string {
	switch typ {
	case "Time":
		return field + " is not a valid date and time: use RFC 3339, e.g. 2027-03-01T00:00:00Z"
	case "":
		return field + " has an invalid value"
	}
	return field + " is not a valid " + typ
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
