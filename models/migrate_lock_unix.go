//go:build unix

package models

import (
	"context"
	"os"
	"syscall"
)

// lockFile takes an exclusive flock on file+"-migrate.lock", waiting for
// another process (or another store in this one) that holds it, and
// returns what releases it. An empty file (an in-memory database) locks
// nothing.
func lockFile(ctx context.Context, file string) (func(), error) {
	if file == "" {
		return func() {}, nil
	}
	f, err := os.OpenFile(file+"-migrate.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	locked := make(chan error, 1)
	go func() { locked <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-locked:
		if err != nil {
			f.Close()
			return nil, err
		}
		return func() { f.Close() }, nil // closing releases the lock
	case <-ctx.Done():
		// The goroutine's flock ends when the holder releases; close then.
		go func() { <-locked; f.Close() }()
		return nil, ctx.Err()
	}
}
