package notify

import "time"

// Worker defaults.
const (
	DefaultPollInterval = time.Second
	DefaultMaxAge       = 24 * time.Hour
	DefaultRetryBase    = 30 * time.Second
	DefaultRetryMax     = time.Hour
	DefaultLease        = 2 * time.Minute
	DefaultBatch        = 20
)
