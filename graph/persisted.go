package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"

	"github.com/twofoldauth/twofold/mfa"
)

const (
	// persistedQueries is how many automatic persisted queries one server
	// remembers (least recently used go first). Each server has its own:
	// a hash unknown to the server a request reaches answers
	// PersistedQueryNotFound and the client sends the text again.
	persistedQueries = 1000
	// maxPersistedQueryBytes bounds what one entry may hold, so that the
	// cache stays small (1000 × 32 KiB at most) whatever clients send;
	// a longer query works, sent in full each time.
	maxPersistedQueryBytes = 32 << 10
)

// persistedQueryCache is the bounded APQ store.
type persistedQueryCache struct{ lru *lru.LRU[string] }

var _ graphql.Cache[string] = persistedQueryCache{}

func newPersistedQueryCache() persistedQueryCache {
	return persistedQueryCache{lru: lru.New[string](persistedQueries)}
}

func (c persistedQueryCache) Get(ctx context.Context, hash string) (string, bool) {
	return c.lru.Get(ctx, hash)
}

func (c persistedQueryCache) Add(ctx context.Context, hash, query string) {
	if len(query) <= maxPersistedQueryBytes {
		c.lru.Add(ctx, hash, query)
	}
}

// mayIntrospect reports whether a viewer may read the schema outside dev
// mode: any admin permission will do (organization, users or audit).
func mayIntrospect(v *mfa.Viewer) bool {
	if v == nil {
		return false
	}
	for _, p := range v.User.Permissions {
		switch p {
		case mfa.PermissionManageOrganization, mfa.PermissionManageUsers, mfa.PermissionViewAudit:
			return true
		}
	}
	return false
}
