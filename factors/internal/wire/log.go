package wire

import (
	"context"
	"io"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// Logger returns an hclog.Logger for go-plugin whose records, including the
// plugin's stderr lines go-plugin relays on the host side, end up in l with
// their level. The slog handler decides what is kept.
func Logger(l *slog.Logger, name string) hclog.Logger {
	hl := hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: name, Level: hclog.Debug, Output: io.Discard})
	hl.RegisterSink(sink{l})
	return hl
}

type sink struct{ l *slog.Logger }

func (s sink) Accept(name string, level hclog.Level, msg string, args ...any) {
	lvl := slogLevel(level)
	if !s.l.Enabled(context.Background(), lvl) {
		return
	}
	s.l.Log(context.Background(), lvl, msg, append([]any{"logger", name}, args...)...)
}

func slogLevel(l hclog.Level) slog.Level {
	switch {
	case l >= hclog.Error:
		return slog.LevelError
	case l == hclog.Warn:
		return slog.LevelWarn
	case l == hclog.Info:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}
