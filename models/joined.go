package models

import (
	"context"
	"strings"
	"sync"

	"gorm.io/gorm/schema"

	"github.com/twofoldauth/twofold/mfa"
)

// schemas caches parsed row types for columnsAs.
var schemas sync.Map

// columnsAs lists model's columns of table alias as prefix+column, for a
// join read into embedded, prefixed structs.
func (s *Store) columnsAs(model any, alias, prefix string) (string, error) {
	sch, err := schema.Parse(model, &schemas, s.db.NamingStrategy)
	if err != nil {
		return "", err
	}
	cols := make([]string, 0, len(sch.DBNames))
	for _, c := range sch.DBNames {
		cols = append(cols, alias+"."+c+" AS "+prefix+c)
	}
	return strings.Join(cols, ", "), nil
}

// ticketAndUser is a login ticket read with its user.
type ticketAndUser struct {
	T loginTicket `gorm:"embedded;embeddedPrefix:t_"`
	U user        `gorm:"embedded;embeddedPrefix:u_"`
}

// LoginTicketAndUser reads a ticket and its user in one statement (the
// second step of every login starts here); ErrNotFound if either is gone.
func (s *Store) LoginTicketAndUser(ctx context.Context, hash string) (*mfa.LoginTicket, *mfa.User, error) {
	tc, err := s.columnsAs(&loginTicket{}, "t", "t_")
	if err != nil {
		return nil, nil, err
	}
	uc, err := s.columnsAs(&user{}, "u", "u_")
	if err != nil {
		return nil, nil, err
	}
	var rows []ticketAndUser
	err = s.conn(ctx).Raw("SELECT "+tc+", "+uc+" FROM login_tickets t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?", hash).
		Scan(&rows).Error
	if err != nil {
		return nil, nil, translate(err)
	}
	if len(rows) == 0 {
		return nil, nil, mfa.ErrNotFound
	}
	return rows[0].T.toMFA(), rows[0].U.toMFA(), nil
}

func (r *loginTicket) toMFA() *mfa.LoginTicket {
	return &mfa.LoginTicket{
		ID: r.ID, TokenHash: r.TokenHash, OrganizationID: r.OrganizationID, UserID: r.UserID, Status: mfa.LoginStatus(r.Status),
		ChallengeEnrollmentID: r.ChallengeEnrollmentID, Challenge: r.Challenge, ChallengeKeyID: r.ChallengeKeyID,
		CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), ConsumedAt: utc(r.ConsumedAt),
	}
}
