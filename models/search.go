package models

import (
	"context"
	"strings"
	"unicode"

	"gorm.io/gorm"
)

// User search is by word prefix, through an index: each word of a user's
// display name, username, email and company name is a row of
// user_search_tokens, written in the transaction that writes the user, and
// a query matches the users who, for each word of the query, have a token
// that starts with it (case-insensitive). "ali smi" finds Alice Smith;
// "smith@" finds smith@example.com; "%" and "_" are characters like any
// other, never wildcards.
//
// Words are runs of characters other than whitespace and the separators
// . , ; : @ + - / ( ) ' "; a word with "_" in it is also indexed by its
// parts, so "doe" finds john_doe.

// maxTokenLength bounds an indexed word; longer words are indexed by their
// first maxTokenLength characters (and a query word by as many).
const maxTokenLength = 64

// maxQueryWords bounds the words of one search (each is a subquery).
const maxQueryWords = 8

// userSearchToken is one indexed word of a user. The key is a plain
// counter: MariaDB's case- and accent-insensitive collation holds "resume"
// and "résumé" equal, so (user, token) could not be unique there.
type userSearchToken struct {
	ID             uint64 `gorm:"primaryKey;autoIncrement"`
	UserID         string `gorm:"size:36;not null;index:ix_user_search_tokens_user;index:ix_user_search_tokens_org_token,priority:3"`
	Token          string `gorm:"size:64;not null;index:ix_user_search_tokens_org_token,priority:2"`
	OrganizationID string `gorm:"size:36;not null;index:ix_user_search_tokens_org_token,priority:1"`
}

func (userSearchToken) TableName() string { return "user_search_tokens" }

func isWordSeparator(r rune) bool {
	return unicode.IsSpace(r) || strings.ContainsRune(".,;:@+-/()'\"", r)
}

// searchWords splits s into lower-case words, each at most maxTokenLength
// characters, without duplicates.
func searchWords(s string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(w string) {
		if r := []rune(w); len(r) > maxTokenLength {
			w = string(r[:maxTokenLength])
		}
		if w != "" && !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), isWordSeparator) {
		add(w)
	}
	return out
}

// userTokens is every indexed word of a user.
func userTokens(username, email, displayName, companyName string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range searchWords(strings.Join([]string{username, email, displayName, companyName}, " ")) {
		parts := []string{w}
		if strings.Contains(w, "_") {
			parts = append(parts, strings.FieldsFunc(w, func(r rune) bool { return r == '_' })...)
		}
		for _, p := range parts {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// writeSearchTokens replaces the user's search tokens (call it in the
// transaction that writes the user).
func writeSearchTokens(db *gorm.DB, userID string) error {
	var r struct {
		OrganizationID string
		Username       string
		Email          string
		DisplayName    string
		CompanyName    *string
	}
	err := db.Raw(`SELECT users.organization_id, users.username, users.email, users.display_name, companies.name AS company_name
		FROM users LEFT JOIN companies ON companies.id = users.company_id WHERE users.id = ?`, userID).Scan(&r).Error
	if err != nil {
		return translate(err)
	}
	if err := db.Where("user_id = ?", userID).Delete(&userSearchToken{}).Error; err != nil {
		return translate(err)
	}
	if r.OrganizationID == "" {
		return nil // no such user
	}
	company := ""
	if r.CompanyName != nil {
		company = *r.CompanyName
	}
	words := userTokens(r.Username, r.Email, r.DisplayName, company)
	rows := make([]userSearchToken, len(words))
	for i, w := range words {
		rows[i] = userSearchToken{UserID: userID, OrganizationID: r.OrganizationID, Token: w}
	}
	if len(rows) == 0 {
		return nil
	}
	return translate(db.Create(&rows).Error)
}

// RefreshSearchTokens rewrites the search tokens of the given users, or of
// every user of the company when companyID is set (a company rename), in
// one transaction.
func (s *Store) RefreshSearchTokens(ctx context.Context, companyID string, userIDs ...string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if companyID != "" {
			var ids []string
			if err := tx.Table("users").Where("company_id = ?", companyID).Pluck("id", &ids).Error; err != nil {
				return err
			}
			userIDs = append(userIDs, ids...)
		}
		for _, id := range userIDs {
			if err := writeSearchTokens(tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// searchCondition is the WHERE condition (and its arguments) that keeps the
// users of orgID matching every word of query, each through the
// (organization_id, token) index: a prefix range on SQLite (whose LIKE with
// ESCAPE skips indexes), LIKE 'word%' on MariaDB (which ranges over it).
// It reports false when the query has no word (which matches everyone).
func (s *Store) searchCondition(orgID, query string) (string, []any, bool) {
	words := searchWords(query)
	if len(words) == 0 {
		return "", nil, false
	}
	if len(words) > maxQueryWords {
		words = words[:maxQueryWords]
	}
	var conds []string
	var args []any
	for _, w := range words {
		if s.Dialect() == "mysql" {
			conds = append(conds, "users.id IN (SELECT t.user_id FROM user_search_tokens t WHERE t.organization_id = ? AND t.token LIKE ? ESCAPE '!')")
			args = append(args, orgID, likeEscaper.Replace(w)+"%")
		} else {
			conds = append(conds, "users.id IN (SELECT t.user_id FROM user_search_tokens t WHERE t.organization_id = ? AND t.token >= ? AND t.token < ?)")
			args = append(args, orgID, w, prefixEnd(w))
		}
	}
	return strings.Join(conds, " AND "), args, true
}

// prefixEnd is the least string above every string that starts with p, in
// byte order (SQLite's BINARY collation): p with its last byte raised.
// UTF-8 never holds 0xFF, so the last byte can always be raised.
func prefixEnd(p string) string {
	b := []byte(p)
	b[len(b)-1]++
	return string(b)
}

// likeEscaper escapes LIKE wildcards with '!', which needs no quoting on
// either engine.
var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")
