package server

import (
	"context"
	"time"

	"github.com/twofoldauth/twofold/mfa"
)

// maxRecoveryLinkTTL bounds TWOFOLD_RECOVERY_LINK_TTL: an emailed link
// should not outlive the day it was asked for.
const maxRecoveryLinkTTL = 24 * time.Hour

// readRecoveryConfig reads the emailed links' lifetime.
func readRecoveryConfig(r *envReader, c *Config) {
	c.MFA.RecoveryLinkTTL = r.duration("TWOFOLD_RECOVERY_LINK_TTL", mfa.DefaultRecoveryLinkTTL)
	if c.MFA.RecoveryLinkTTL > maxRecoveryLinkTTL || c.MFA.RecoveryLinkTTL < time.Minute {
		r.fail("TWOFOLD_RECOVERY_LINK_TTL", "must be from 1m to %s", maxRecoveryLinkTTL)
	}
}

// mfaPublicURL is the base of links in mails: TWOFOLD_PUBLIC_URL, or the
// listen address's URL (make run).
func (c Config) mfaPublicURL() string {
	if c.MFA.PublicURL != "" {
		return c.MFA.PublicURL
	}
	return assertionIssuer(c.PublicURL, c.HTTPAddr)
}

// notificationJobInterval is how often a server expands notification
// fan-outs (a policy that makes MFA required for many users). Every server
// does; a page of users is claimed in the database, so none is mailed twice.
const notificationJobInterval = time.Second

// notificationJobLoop expands fan-outs until ctx ends.
func (s *Server) notificationJobLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.service.ExpandNotificationJobs(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("expand notification jobs", "err", err)
			} else if n > 0 {
				s.log.Info("expanded notification jobs", "users", n)
			}
		}
	}
}
