package graph

import (
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/twofoldauth/twofold/graph/model"
	"github.com/twofoldauth/twofold/mfa"
)

const (
	defaultPageSize = 20
	maxPageSize     = 100
)

// page turns Relay arguments into a keyset page. A cursor is the base64url
// JSON of an mfa.Cursor (the row's sort values and id): opaque to clients,
// and valid while rows are inserted before or after it.
func page(first *int, after *string) (mfa.Page, error) {
	p := mfa.Page{Limit: defaultPageSize}
	if first != nil {
		if *first < 0 || *first > maxPageSize {
			return p, &mfa.Error{Code: mfa.CodeBadUserInput, Field: "first", Message: "first must be between 0 and " + strconv.Itoa(maxPageSize)}
		}
		p.Limit = *first
	}
	if after != nil && *after != "" {
		c, err := decodeCursor(*after)
		if err != nil {
			return p, &mfa.Error{Code: mfa.CodeBadUserInput, Field: "after", Message: "after is not a valid cursor"}
		}
		p.After = c
	}
	return p, nil
}

func encodeCursor(c mfa.Cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*mfa.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var c mfa.Cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if c.Order == "" || c.ID == "" {
		return nil, strconv.ErrSyntax
	}
	return &c, nil
}

// connection builds the edges and page info of one keyset page.
func connection[T, E any](p mfa.Page, l *mfa.Paged[T], edge func(node *T, cursor string) E) ([]E, *model.PageInfo) {
	edges := make([]E, len(l.Items))
	for i := range l.Items {
		edges[i] = edge(&l.Items[i], encodeCursor(l.Cursors[i]))
	}
	info := &model.PageInfo{HasPreviousPage: p.After != nil, HasNextPage: l.More}
	if n := len(l.Items); n > 0 {
		start, end := encodeCursor(l.Cursors[0]), encodeCursor(l.Cursors[n-1])
		info.StartCursor, info.EndCursor = &start, &end
	}
	return edges, info
}

func userConnection(p mfa.Page, l *mfa.Paged[mfa.User]) *model.UserConnection {
	edges, info := connection(p, l, func(u *mfa.User, c string) model.UserEdge { return model.UserEdge{Cursor: c, Node: u} })
	return &model.UserConnection{Edges: edges, PageInfo: info, TotalCount: l.Total, TotalCountIsExact: l.TotalExact}
}

func companyConnection(p mfa.Page, l *mfa.Paged[mfa.Company]) *model.CompanyConnection {
	edges, info := connection(p, l, func(c *mfa.Company, cur string) model.CompanyEdge { return model.CompanyEdge{Cursor: cur, Node: c} })
	return &model.CompanyConnection{Edges: edges, PageInfo: info, TotalCount: l.Total}
}

func policyConnection(p mfa.Page, l *mfa.Paged[mfa.Policy]) *model.PolicyConnection {
	edges, info := connection(p, l, func(pol *mfa.Policy, cur string) model.PolicyEdge { return model.PolicyEdge{Cursor: cur, Node: pol} })
	return &model.PolicyConnection{Edges: edges, PageInfo: info, TotalCount: l.Total}
}

func enrollmentConnection(p mfa.Page, l *mfa.Paged[mfa.Enrollment]) *model.EnrollmentConnection {
	edges, info := connection(p, l, func(e *mfa.Enrollment, cur string) model.EnrollmentEdge {
		return model.EnrollmentEdge{Cursor: cur, Node: e}
	})
	return &model.EnrollmentConnection{Edges: edges, PageInfo: info, TotalCount: l.Total}
}
