//go:build !linux

package main

import "syscall"

// childAttr is empty where there is no parent-death signal: the nodes are
// stopped on the way out, as on Linux, but not if jsbench is killed.
func childAttr() *syscall.SysProcAttr { return nil }
