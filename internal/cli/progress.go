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

// Progress draws transfer progress on one line of a terminal. Its zero
// value and a nil one draw nothing, so callers need not check whether a
// terminal is attached.
type Progress struct {
	w   io.Writer
	now func() time.Time

	mu    sync.Mutex
	last  time.Time
	shown int // width of the line on screen, to blank it out
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
	line := FormatProgress(done, total, barWidth)
	pad := ""
	if n := len([]rune(line)); n < p.shown {
		pad = strings.Repeat(" ", p.shown-n)
	} else {
		p.shown = n
	}
	fmt.Fprint(p.w, "\r"+line+pad)
}

// Clear blanks the bar's line so that what follows starts clean.
func (p *Progress) Clear() {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown > 0 {
		fmt.Fprint(p.w, "\r"+strings.Repeat(" ", p.shown)+"\r")
	}
	p.shown = 0
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
