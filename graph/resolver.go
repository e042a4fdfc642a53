// Package graph is Twofold's GraphQL transport: the schema, gqlgen's
// generated executor, thin resolvers that call mfa.Service, the @auth
// directive and the error presenter.
package graph

import (
	"github.com/twofoldauth/twofold/mfa"
)

// This file will not be regenerated automatically.

// Resolver is the root resolver: the dependencies every resolver shares.
type Resolver struct {
	Service *mfa.Service
}
