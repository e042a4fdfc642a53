package sdk

import (
	"log/slog"
	"os"
)

// stderr is the process's real standard error, saved before Serve replaces
// os.Stderr with a pipe: the host reads this one and parses its lines.
var stderr = os.Stderr

// NewLogger returns a logger whose records reach the host's log with their
// level and attributes. It writes JSON lines in the shape go-plugin parses
// ("@level", "@message") to the plugin's standard error.
func NewLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.Attr{} // the host stamps the time it reads the line
			case slog.LevelKey:
				a.Key = "@level"
			case slog.MessageKey:
				a.Key = "@message"
			}
			return a
		},
	}))
}
