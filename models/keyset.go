package models

import (
	"strconv"
	"strings"
	"time"

	"github.com/twofoldauth/twofold/mfa"
)

// Keyset paging: a page is the rows after the cursor's sort values and id,
// in ORDER BY key..., id, read from an index (organization_id, key..., id).
// NULL sorts first ascending and last descending, as both engines order it.

// keyKind is how a sort value is written in a cursor and bound in SQL.
type keyKind int

const (
	keyString keyKind = iota
	keyTime
	keyBool
)

// keyCol is one sort column.
type keyCol struct {
	expr     string
	kind     keyKind
	nullable bool
}

// keyset is a sort order: its columns, then idExpr, all one direction.
type keyset struct {
	cols   []keyCol
	idExpr string
	desc   bool
}

func (k keyset) orderBy() string {
	dir := " ASC"
	if k.desc {
		dir = " DESC"
	}
	var parts []string
	for _, c := range k.cols {
		parts = append(parts, c.expr+dir)
	}
	return strings.Join(append(parts, k.idExpr+dir), ", ")
}

// parse turns a cursor value into a bind argument.
func (c keyCol) parse(v *string) (any, error) {
	if v == nil {
		if !c.nullable {
			return nil, mfa.ErrBadCursor
		}
		return nil, nil
	}
	switch c.kind {
	case keyTime:
		t, err := time.Parse(time.RFC3339Nano, *v)
		if err != nil {
			return nil, mfa.ErrBadCursor
		}
		return t.UTC(), nil
	case keyBool:
		b, err := strconv.ParseBool(*v)
		if err != nil {
			return nil, mfa.ErrBadCursor
		}
		return b, nil
	}
	return *v, nil
}

// after is the WHERE condition for the rows after cur, and its arguments.
// The first column also gets a plain range (col >= v) so the planner walks
// the index from the cursor instead of filtering from the start.
func (k keyset) after(cur *mfa.Cursor) (string, []any, error) {
	if len(cur.Values) != len(k.cols) || cur.ID == "" {
		return "", nil, mfa.ErrBadCursor
	}
	vals := make([]any, len(k.cols))
	for i, c := range k.cols {
		v, err := c.parse(cur.Values[i])
		if err != nil {
			return "", nil, err
		}
		vals[i] = v
	}
	gt, ge := " > ", " >= "
	if k.desc {
		gt, ge = " < ", " <= "
	}
	var build func(i int) (string, []any)
	build = func(i int) (string, []any) {
		if i == len(k.cols) {
			return k.idExpr + gt + "?", []any{cur.ID}
		}
		c, v := k.cols[i], vals[i]
		rest, restArgs := build(i + 1)
		switch {
		case v == nil && !k.desc:
			return "(" + c.expr + " IS NOT NULL OR (" + c.expr + " IS NULL AND " + rest + "))", restArgs
		case v == nil:
			return "(" + c.expr + " IS NULL AND " + rest + ")", restArgs
		case k.desc && c.nullable:
			return "(" + c.expr + gt + "? OR " + c.expr + " IS NULL OR (" + c.expr + " = ? AND " + rest + "))", append([]any{v, v}, restArgs...)
		}
		return "(" + c.expr + gt + "? OR (" + c.expr + " = ? AND " + rest + "))", append([]any{v, v}, restArgs...)
	}
	cond, args := build(0)
	if v := vals[0]; v != nil && !(k.desc && k.cols[0].nullable) {
		cond = k.cols[0].expr + ge + "? AND " + cond
		args = append([]any{v}, args...)
	}
	return cond, args, nil
}

// cursorValue writes a sort value into a cursor.
func cursorString(s string) *string { return &s }

func cursorTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

func cursorBool(b bool) *string { return cursorString(strconv.FormatBool(b)) }

// limitOf is a page's size plus one, to learn whether more rows follow.
func limitOf(p mfa.Page) int { return p.Limit + 1 }
