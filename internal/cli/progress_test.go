package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestFormatProgress(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		done, total int64
		width       int
		want        string
	}{
		{0, 100, 10, "[>         ]   0% 0 B/100 B"},
		{45, 100, 10, "[====>     ]  45% 45 B/100 B"},
		{12_897_485, 27 * mib, 10, "[====>     ]  45% 12.3 MiB/27.0 MiB"},
		{99, 100, 10, "[=========>]  99% 99 B/100 B"},
		{100, 100, 10, "[==========] 100% 100 B/100 B"},
		{150, 100, 4, "[====] 100% 100 B/100 B"}, // clamped
		{0, 0, 4, "[====] 100% 1 B/1 B"},
	}
	for _, tt := range tests {
		if got := FormatProgress(tt.done, tt.total, tt.width); got != tt.want {
			t.Errorf("FormatProgress(%d, %d, %d) = %q; want %q", tt.done, tt.total, tt.width, got, tt.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	tests := map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB", 2 << 40: "2.0 TiB", 2048 << 40: "2048.0 TiB",
	}
	for n, want := range tests {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q; want %q", n, got, want)
		}
	}
}

func TestProgressBarThrottle(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	p := &Progress{w: &buf, now: func() time.Time { return now }}
	p.Update(10, 100) // drawn: first
	now = now.Add(50 * time.Millisecond)
	p.Update(20, 100) // skipped: too soon
	now = now.Add(60 * time.Millisecond)
	p.Update(30, 100) // drawn
	now = now.Add(time.Millisecond)
	p.Update(100, 100) // drawn: the end always is
	draws := strings.Count(buf.String(), "\r")
	if draws != 3 {
		t.Errorf("%d draws; want 3: %q", draws, buf.String())
	}
	if !strings.Contains(buf.String(), " 30% ") || strings.Contains(buf.String(), " 20% ") {
		t.Errorf("wrong frames drawn: %q", buf.String())
	}
	buf.Reset()
	p.Clear()
	width := len([]rune(FormatProgress(100, 100, barWidth)))
	if want := "\r" + strings.Repeat(" ", width) + "\r"; buf.String() != want {
		t.Errorf("clear wrote %q; want %q", buf.String(), want)
	}
}

func TestProgressBarOff(t *testing.T) {
	// Not a terminal: no bar. A nil bar is safe to use.
	var buf bytes.Buffer
	p := NewProgress(&buf)
	if p != nil {
		t.Fatalf("NewProgress(buffer) = %v; want nil", p)
	}
	p.Update(1, 2)
	p.Clear()
	if buf.Len() != 0 {
		t.Errorf("wrote %q", buf.String())
	}
}

// TestLineBlanksLeftovers: a shorter line overwrites a longer one with
// spaces, and Clear blanks the widest line drawn.
func TestLineBlanksLeftovers(t *testing.T) {
	var b strings.Builder
	var l Line
	l.Draw(&b, "dài hơn")
	l.Draw(&b, "ngắn")
	if got, want := b.String(), "\rdài hơn\rngắn   "; got != want {
		t.Errorf("draws wrote %q, want %q", got, want)
	}
	b.Reset()
	l.Clear(&b)
	if got, want := b.String(), "\r       \r"; got != want {
		t.Errorf("Clear wrote %q, want %q", got, want)
	}
	b.Reset()
	l.Clear(&b)
	if b.Len() != 0 {
		t.Errorf("a second Clear wrote %q", b.String())
	}
}
