// Package notify sends the outbox: a worker in every server claims due
// notification rows (written by mfa in the transaction of their event),
// renders their templates (embedded defaults or an organization's
// overrides) and delivers them over SMTP, retrying with back-off until they
// are sent or given up.
package notify
