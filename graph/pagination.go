package graph

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/twofoldauth/twofold/graph/model"
	"github.com/twofoldauth/twofold/mfa"
)

const (
	defaultPageSize = 20
	maxPageSize     = 100
	cursorPrefix    = "o:"
)

// page turns Relay arguments into an offset window. Cursors are opaque to
// clients; today they carry an offset.
func page(first *int, after *string) (mfa.Page, error) {
	p := mfa.Page{Limit: defaultPageSize}
	if first != nil {
		if *first < 0 || *first > maxPageSize {
			return p, &mfa.Error{Code: mfa.CodeBadUserInput, Field: "first", Message: "first must be between 0 and " + strconv.Itoa(maxPageSize)}
		}
		p.Limit = *first
	}
	if after != nil && *after != "" {
		off, err := decodeCursor(*after)
		if err != nil {
			return p, &mfa.Error{Code: mfa.CodeBadUserInput, Field: "after", Message: "after is not a valid cursor"}
		}
		p.Offset = off + 1
	}
	return p, nil
}

func encodeCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.Itoa(offset)))
}

func decodeCursor(c string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), cursorPrefix))
	if err != nil || n < 0 {
		return 0, strconv.ErrSyntax
	}
	return n, nil
}

// connection builds the edges and page info of one page of n items whose
// first item is at p.Offset.
func connection[E any](p mfa.Page, n, total int, edge func(i int, cursor string) E) ([]E, *model.PageInfo) {
	edges := make([]E, n)
	for i := range n {
		edges[i] = edge(i, encodeCursor(p.Offset+i))
	}
	info := &model.PageInfo{HasPreviousPage: p.Offset > 0, HasNextPage: p.Offset+n < total}
	if n > 0 {
		start, end := encodeCursor(p.Offset), encodeCursor(p.Offset+n-1)
		info.StartCursor, info.EndCursor = &start, &end
	}
	return edges, info
}

func userConnection(p mfa.Page, users []mfa.User, total int) *model.UserConnection {
	edges, info := connection(p, len(users), total, func(i int, c string) model.UserEdge {
		return model.UserEdge{Cursor: c, Node: &users[i]}
	})
	return &model.UserConnection{Edges: edges, PageInfo: info, TotalCount: total}
}
