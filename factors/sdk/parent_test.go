package sdk

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestWatchParentNoticesReparenting(t *testing.T) {
	var ppid atomic.Int64
	ppid.Store(4242)
	done := make(chan struct{})
	go watchParent(func() int { return int(ppid.Load()) }, time.Millisecond, func() { close(done) })
	select {
	case <-done:
		t.Fatal("exited while the parent was alive")
	case <-time.After(20 * time.Millisecond):
	}
	ppid.Store(1) // the host died: the plugin was re-parented to init
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("did not notice that the parent was gone")
	}
}
