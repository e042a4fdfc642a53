//go:build !unix

package models

import (
	"context"
	"sync"
)

var migrationMutexes sync.Map // database file → *sync.Mutex

// lockFile serializes the migrations of file within this process (no
// flock here: run one process's migration at a time, `twofold migrate up`).
func lockFile(_ context.Context, file string) (func(), error) {
	mu, _ := migrationMutexes.LoadOrStore(file, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	return mu.(*sync.Mutex).Unlock, nil
}
