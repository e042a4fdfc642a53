package mfa

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/twofoldauth/twofold/factors"
)

// EventFactorMessage: a factor plugin's message to the user it is serving
// (an email one-time code), asked for through the host services
// (factors/sdk.Host(ctx).Deliver). Variables: subject, text, factor_type.
const EventFactorMessage Event = "factor.message"

// AuditFactorMessage: a factor plugin had a message queued for a user
// (details: factor_type, subject; never the text, which holds codes).
const AuditFactorMessage AuditAction = "factor.message_queued"

// Flood guard: at most maxFactorMessages factor messages per user within
// factorMessageWindow, whatever the factors' own cool-downs.
const (
	maxFactorMessages   = 10
	factorMessageWindow = 15 * time.Minute
)

// MessageDeliverer is what the factor host needs from the domain to serve
// DeliverMessage to plugins (factors/host.Backend); *Service implements it.
type MessageDeliverer interface {
	DeliverFactorMessage(ctx context.Context, userID, factorType, subject, text string) error
	Now() time.Time
}

var _ MessageDeliverer = (*Service)(nil)

// DeliverFactorMessage queues a factor plugin's email to a user, with an
// audit event, in one transaction: the outbox sends and retries it like
// every notification. The host has checked that the plugin's current call
// serves this user. A user who is not active or has no address, an
// organization that switched factor messages off, and more than
// maxFactorMessages in factorMessageWindow are refused with a
// factors.ErrBadRequest or factors.ErrRateLimited the plugin passes on.
func (s *Service) DeliverFactorMessage(ctx context.Context, userID, factorType, subject, text string) error {
	u, err := s.store.UserByID(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return factors.Errorf(factors.ErrBadRequest, "unknown user")
	}
	if err != nil {
		return err
	}
	switch {
	case u.Status != UserActive:
		return factors.Errorf(factors.ErrBadRequest, "the user is not active")
	case !deliverable(u.Email):
		return factors.Errorf(factors.ErrBadRequest, "the user has no email address")
	}
	tpl, err := s.currentTemplate(ctx, s.store, u.OrganizationID, EventFactorMessage)
	if err != nil {
		return err
	}
	if !tpl.Enabled {
		return factors.Errorf(factors.ErrBadRequest, "the organization has switched factor messages off")
	}
	if wait, err := s.factorMessageWait(ctx, u); err != nil || wait > 0 {
		if err != nil {
			return err
		}
		return factors.Errorf(factors.ErrRateLimited, fmt.Sprintf("too many messages were sent; wait %d minutes", int(math.Ceil(wait.Minutes()))))
	}
	return s.store.Transaction(ctx, func(tx Store) error {
		data := map[string]string{"subject": subject, "text": text, "factor_type": factorType}
		if err := s.notify(ctx, tx, u.OrganizationID, []User{*u}, EventFactorMessage, data); err != nil {
			return err
		}
		details := map[string]string{"factor_type": factorType, "subject": subject}
		return s.audit(ctx, tx, u.OrganizationID, "", u.ID, AuditFactorMessage, details)
	})
}

// factorMessageWait is how long until u may be sent another factor
// message: 0 unless maxFactorMessages were queued within the window.
func (s *Service) factorMessageWait(ctx context.Context, u *User) (time.Duration, error) {
	recent, err := s.store.Notifications(ctx, NotificationQuery{OrganizationID: u.OrganizationID,
		Filter: NotificationFilter{UserID: u.ID, Event: EventFactorMessage}, Page: Page{Limit: maxFactorMessages}})
	if err != nil {
		return 0, err
	}
	if len(recent.Items) < maxFactorMessages {
		return 0, nil
	}
	oldest := recent.Items[len(recent.Items)-1].CreatedAt
	return max(0, oldest.Add(factorMessageWindow).Sub(s.now())), nil
}
