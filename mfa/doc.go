// Package mfa is Twofold's domain core: the login state machine, sessions,
// users and their permissions, lockout, and (as they arrive) factors,
// policies, trust, recovery and audit.
//
// It imports no GraphQL, HTTP or GORM package. It declares the small
// interfaces it needs (Store, Clock, factor Registry) and adapters implement
// them; every rule lives here, and transports only call Service methods.
package mfa
