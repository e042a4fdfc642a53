package host

import (
	"os/exec"
	"syscall"
)

// dieWithHost asks Linux to kill the plugin when the host dies, even by
// kill -9, so no plugin outlives its server. (Linux sends the signal when
// the thread that started the child ends; Go ends a thread only when a
// goroutine locked to it returns, and the host locks none.)
func dieWithHost(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
