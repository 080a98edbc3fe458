package main

import "syscall"

// childAttr makes the kernel kill an ndxpd child if jsbench dies without
// stopping it, so no node outlives a killed run.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
