package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// barWidth is the number of cells between the brackets of a progress bar.
const barWidth = 30

// redrawEvery throttles the progress bar to ten redraws a second.
const redrawEvery = 100 * time.Millisecond

// IsTerminal reports whether w is a character device (a terminal). The
// check is crude, but golang.org/x/term is not a dependency, and all it
// decides is whether a progress bar would be seen or would pollute a log.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Line is one line of a terminal that is redrawn in place. The caller
// serializes calls (the zero value is ready).
type Line struct {
	shown int // width on screen, to blank out what a shorter line leaves
}

// Draw replaces the line with s.
func (l *Line) Draw(w io.Writer, s string) {
	pad := ""
	if n := len([]rune(s)); n < l.shown {
		pad = strings.Repeat(" ", l.shown-n)
	} else {
		l.shown = n
	}
	fmt.Fprint(w, "\r"+s+pad)
}

// Clear blanks the line and puts the cursor at its start.
func (l *Line) Clear(w io.Writer) {
	if l.shown > 0 {
		fmt.Fprint(w, "\r"+strings.Repeat(" ", l.shown)+"\r")
	}
	l.shown = 0
}

// Progress draws transfer progress on one line of a terminal. Its zero
// value and a nil one draw nothing, so callers need not check whether a
// terminal is attached.
type Progress struct {
	w   io.Writer
	now func() time.Time

	mu   sync.Mutex
	last time.Time
	line Line
}

// NewProgress returns a bar drawing on w, or nil when w is not a terminal.
func NewProgress(w io.Writer) *Progress {
	if !IsTerminal(w) {
		return nil
	}
	return &Progress{w: w, now: time.Now}
}

// Update redraws the bar, at most ten times a second; the final state
// (done == total) is always drawn.
func (p *Progress) Update(done, total int64) {
	if p == nil || p.w == nil || total <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if done < total && !p.last.IsZero() && now.Sub(p.last) < redrawEvery {
		return
	}
	p.last = now
	p.line.Draw(p.w, FormatProgress(done, total, barWidth))
}

// Clear blanks the bar's line so that what follows starts clean.
func (p *Progress) Clear() {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line.Clear(p.w)
	p.last = time.Time{}
}

// FormatProgress renders "[=====>    ] 45% 12.3 MiB/27.0 MiB".
func FormatProgress(done, total int64, width int) string {
	if total <= 0 {
		total = 1
		done = 1
	}
	done = min(max(done, 0), total)
	pct := int(done * 100 / total)
	fill := int(done * int64(width) / total)
	var bar string
	if fill >= width {
		bar = strings.Repeat("=", width)
	} else {
		bar = strings.Repeat("=", fill) + ">" + strings.Repeat(" ", width-fill-1)
	}
	return fmt.Sprintf("[%s] %3d%% %s/%s", bar, pct, FormatBytes(done), FormatBytes(total))
}

// FormatBytes renders a size in binary units with one decimal: "12.3 MiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= unit
		if v < unit || u == "TiB" {
			return fmt.Sprintf("%.1f %s", v, u)
		}
	}
	return "" // not reached
}
