//go:build unix

package host

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// claimSocketDir creates this host's socket folder in base (the system
// temporary folder when empty) and holds a lock in it for as long as the
// process lives: the kernel drops the lock when the host dies, even by
// kill -9. Folders in base whose lock can be taken belonged to hosts that
// died without cleaning up, and are removed first. release removes the
// folder and drops the lock.
func claimSocketDir(base string, log *slog.Logger) (dir string, release func(), err error) {
	if base == "" {
		base = os.TempDir()
	}
	removeStaleSocketDirs(base, log)
	// The folder is locked under a name the clean-up ignores, then renamed,
	// so no other host ever sees it unlocked.
	tmp, err := os.MkdirTemp(base, newSocketDirPrefix)
	if err != nil {
		return "", nil, err
	}
	lock, err := os.OpenFile(filepath.Join(tmp, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != nil {
			lock.Close()
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return "", nil, err
	}
	dir = filepath.Join(base, socketDirPrefix+strings.TrimPrefix(filepath.Base(tmp), newSocketDirPrefix))
	if err := os.Rename(tmp, dir); err != nil {
		lock.Close()
		os.RemoveAll(tmp)
		return "", nil, err
	}
	return dir, func() {
		os.RemoveAll(dir)
		lock.Close()
	}, nil
}

// removeStaleSocketDirs removes the socket folders in base whose host is
// gone (their lock is free). Folders of other users cannot be opened and
// are left alone, as are folders without a lock file.
func removeStaleSocketDirs(base string, log *slog.Logger) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), socketDirPrefix) {
			continue
		}
		dir := filepath.Join(base, e.Name())
		f, err := os.Open(filepath.Join(dir, lockFile))
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			if err := os.RemoveAll(dir); err != nil {
				log.Warn("cannot remove the socket folder of a host that died", "dir", dir, "err", err)
			} else {
				log.Info("removed the socket folder of a host that died", "dir", dir)
			}
		}
		f.Close()
	}
}
