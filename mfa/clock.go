package mfa

import "time"

// Clock tells the time. Every time-based rule reads it, never time.Now, so
// tests can move time.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now().UTC() }
