package graph

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/twofoldauth/twofold/graph/generated"
	"github.com/twofoldauth/twofold/mfa"
)

// Config sets up the GraphQL handler.
type Config struct {
	Service *mfa.Service
	Logger  *slog.Logger
	// Dev opens introspection to everyone; otherwise only admins get it.
	Dev bool
	// MaxDepth and MaxComplexity bound what one query may ask for.
	MaxDepth      int
	MaxComplexity int
	// Extensions are added after the built-in ones (the server's tracing
	// and metrics).
	Extensions []graphql.HandlerExtension
}

// NewHandler returns the /graphql handler. It expects the HTTP layer to put
// a *Request in the context (WithRequest).
func NewHandler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxDepth == 0 {
		cfg.MaxDepth = 15
	}
	if cfg.MaxComplexity == 0 {
		cfg.MaxComplexity = 500
	}
	gc := generated.Config{Resolvers: &Resolver{Service: cfg.Service}}
	gc.Directives.Auth = auth
	gc.Directives.Operator = operatorOnly
	es := generated.NewExecutableSchema(gc)
	srv := handler.New(es)
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	// Automatic persisted queries: a client may send a query's SHA-256
	// instead of its text once this server has seen it. The query still
	// goes through every rule below (depth, secret checks, complexity).
	srv.Use(extension.AutomaticPersistedQuery{Cache: newPersistedQueryCache()})
	srv.Use(accessRules{dev: cfg.Dev, maxDepth: cfg.MaxDepth})
	srv.Use(secretCheckLimit{service: cfg.Service})
	srv.Use(extension.FixedComplexityLimit(cfg.MaxComplexity))
	for _, x := range cfg.Extensions {
		srv.Use(x)
	}
	srv.SetErrorPresenter(presentError(cfg.Logger, es.Schema()))
	srv.SetRecoverFunc(recoverPanic(cfg.Logger))
	return withLoaders(cfg.Service, srv)
}

// accessRules limits query depth and opens introspection to admins (and to
// everyone in dev mode).
type accessRules struct {
	dev      bool
	maxDepth int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = accessRules{}

func (accessRules) ExtensionName() string                   { return "TwofoldAccessRules" }
func (accessRules) Validate(graphql.ExecutableSchema) error { return nil }
func (a accessRules) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	oc.DisableIntrospection = !a.dev && !mayIntrospect(requestFrom(ctx).Viewer)
	if d := depth(oc.Operation.SelectionSet, oc.Doc.Fragments, 0); d > a.maxDepth {
		return &gqlerror.Error{Message: "query is too deep", Extensions: map[string]any{"code": string(mfa.CodeBadUserInput)}}
	}
	return nil
}

// depth is the deepest field nesting of a selection set, following
// fragments (whose cycles validation has already refused).
func depth(set ast.SelectionSet, frags ast.FragmentDefinitionList, level int) int {
	deepest := level
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			d = depth(s.SelectionSet, frags, level+1)
		case *ast.InlineFragment:
			d = depth(s.SelectionSet, frags, level)
		case *ast.FragmentSpread:
			if f := frags.ForName(s.Name); f != nil {
				d = depth(f.SelectionSet, frags, level)
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// secretFields are the fields that check a password, a code or an
// assertion: each costs an argon2 hash or a plugin call and counts towards
// the lockout, so one request may hold at most one of them. Aliases would
// otherwise turn one request past the rate limit into a hundred guesses.
var secretFields = map[string]bool{
	"login":              true,
	"verifyFactor":       true,
	"finishPasskeyLogin": true,
	"completeEnrollment": true,
	"changePassword":     true,
	"confirmMfaRecovery": true,
	"disableMyMfa":       true,
}

// secretCheckLimit refuses, before anything runs, an operation that selects
// more than one secret-checking field, and charges every one of them
// against the caller's authentication rate.
type secretCheckLimit struct{ service *mfa.Service }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = secretCheckLimit{}

func (secretCheckLimit) ExtensionName() string                   { return "TwofoldSecretCheckLimit" }
func (secretCheckLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (l secretCheckLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	n := countSecretFields(oc.Operation.SelectionSet, oc.Doc.Fragments)
	if n <= 1 {
		return nil
	}
	if l.service != nil {
		l.service.CountRefusedAttempts(ctx, n)
	}
	return &gqlerror.Error{
		Message:    fmt.Sprintf("a request may check at most one password, code or passkey; this one asks for %d (send them one at a time)", n),
		Extensions: map[string]any{"code": string(mfa.CodeBadUserInput), "reason": "TOO_MANY_SECRET_CHECKS"},
	}
}

// countSecretFields counts the secret-checking fields an operation selects
// at its top level, aliases and fragments included. @skip and @include are
// not evaluated: a field that might run counts.
func countSecretFields(set ast.SelectionSet, frags ast.FragmentDefinitionList) int {
	n := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if secretFields[s.Name] {
				n++
			}
		case *ast.InlineFragment:
			n += countSecretFields(s.SelectionSet, frags)
		case *ast.FragmentSpread:
			if f := frags.ForName(s.Name); f != nil {
				n += countSecretFields(f.SelectionSet, frags)
			}
		}
	}
	return n
}
