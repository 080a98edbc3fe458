package main

import (
	"io"
	"sync"
	"time"

	"github.com/ndxp/ndxp/internal/cli"
)

// progress redraws one status line on a terminal about four times a
// second. On anything else (a pipe, a file, a test) it draws nothing.
type progress struct {
	w       io.Writer
	enabled bool

	mu    sync.Mutex
	line  func() string
	stopc chan struct{}
	done  chan struct{}
	shown cli.Line // the status line on screen
}

func newProgress(w io.Writer, enabled bool) *progress {
	return &progress{w: w, enabled: enabled}
}

// show starts drawing what line returns, replacing any earlier line.
func (p *progress) show(line func() string) {
	if p == nil || !p.enabled {
		return
	}
	p.stop()
	p.mu.Lock()
	p.line = line
	p.stopc, p.done = make(chan struct{}), make(chan struct{})
	stopc, done := p.stopc, p.done
	p.mu.Unlock()
	go func() {
		defer close(done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopc:
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shown.Draw(p.w, p.line())
}

// stop ends drawing and blanks the line; it is safe to call repeatedly.
func (p *progress) stop() {
	if p == nil || !p.enabled {
		return
	}
	p.mu.Lock()
	stopc, done := p.stopc, p.done
	p.stopc, p.done = nil, nil
	p.mu.Unlock()
	if stopc == nil {
		return
	}
	close(stopc)
	<-done
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shown.Clear(p.w)
}
