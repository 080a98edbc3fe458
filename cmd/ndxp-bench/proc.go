package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

// procSample is one reading of a process's CPU time and memory from /proc.
type procSample struct {
	CPU float64 // user + system seconds since the process started
	RSS int64   // resident set size now (VmRSS), bytes
	HWM int64   // peak resident set size (VmHWM), bytes
}

var (
	clkTckOnce sync.Once
	clkTck     = 100.0
)

// ticksPerSecond is sysconf(_SC_CLK_TCK), the unit of utime and stime in
// /proc/<pid>/stat. Go cannot call sysconf without cgo, so ask getconf;
// Linux fixes USER_HZ at 100 on every mainstream architecture, which is
// the fallback.
func ticksPerSecond() float64 {
	clkTckOnce.Do(func() {
		out, err := exec.Command("getconf", "CLK_TCK").Output()
		if err != nil {
			return
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			clkTck = v
		}
	})
	return clkTck
}

// readProc samples process pid (Linux only; elsewhere it fails and the
// report says "unknown").
func readProc(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after the last ')' are fixed: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, errors.New("unexpected /proc stat format")
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 13 {
		return s, errors.New("unexpected /proc stat format")
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return s, fmt.Errorf("/proc stat: %w", err)
	}
	s.CPU = (utime + stime) / ticksPerSecond()

	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if k == "VmRSS" {
			s.RSS = kb << 10
		} else {
			s.HWM = kb << 10
		}
	}
	return s, sc.Err()
}

// procWatch samples a process, remembering whether it can (pid 0 or no
// /proc: every reading is unknown).
type procWatch struct{ pid int }

func (w procWatch) sample() (procSample, bool) {
	if w.pid <= 0 {
		return procSample{}, false
	}
	s, err := readProc(w.pid)
	return s, err == nil
}
