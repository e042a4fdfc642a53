package sdk

import (
	"log/slog"
	"os"
	"time"
)

// parentPoll is how often a plugin checks that its host is still there.
const parentPoll = 500 * time.Millisecond

// exitWithParent ends the plugin when its host is gone. On Linux the host
// has the kernel kill its plugins when it dies; elsewhere, and for a plugin
// started some other way, this is what keeps a plugin from living on,
// re-parented, after its host was killed.
func exitWithParent(log *slog.Logger) {
	go watchParent(os.Getppid, parentPoll, func() {
		log.Warn("the Twofold host is gone; exiting")
		os.Exit(2)
	})
}

// watchParent calls gone once getppid no longer returns the parent it
// returned first: the parent died and the process was re-parented.
func watchParent(getppid func() int, every time.Duration, gone func()) {
	parent := getppid()
	for {
		time.Sleep(every)
		if getppid() != parent {
			gone()
			return
		}
	}
}
