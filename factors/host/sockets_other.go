//go:build !unix

package host

import (
	"log/slog"
	"os"
)

// claimSocketDir creates this host's socket folder in base (the system
// temporary folder when empty). Without flock, folders of hosts that died
// are not recognised and stay behind.
func claimSocketDir(base string, _ *slog.Logger) (dir string, release func(), err error) {
	dir, err = os.MkdirTemp(base, socketDirPrefix)
	if err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}
