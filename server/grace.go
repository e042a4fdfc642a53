package server

import (
	"context"
	"time"
)

// enrollmentReminderInterval is how often a server mails the enrolment
// reminders that are due (grace periods). Every server does; each reminder
// is claimed in the database, so none goes twice.
const enrollmentReminderInterval = 15 * time.Minute

// enrollmentReminderLoop sends due enrolment reminders until ctx ends.
func (s *Server) enrollmentReminderLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.service.SendEnrollmentReminders(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("enrolment reminders", "err", err)
			} else if n > 0 {
				s.log.Info("enrolment reminders written", "users", n)
			}
		}
	}
}
