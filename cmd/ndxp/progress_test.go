package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
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
		if got := formatProgress(tt.done, tt.total, tt.width); got != tt.want {
			t.Errorf("formatProgress(%d, %d, %d) = %q; want %q", tt.done, tt.total, tt.width, got, tt.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	tests := map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB", 2 << 40: "2.0 TiB", 2048 << 40: "2048.0 TiB",
	}
	for n, want := range tests {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q; want %q", n, got, want)
		}
	}
}

func TestProgressBarThrottle(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	p := &progressBar{w: &buf, now: func() time.Time { return now }}
	p.update(10, 100) // drawn: first
	now = now.Add(50 * time.Millisecond)
	p.update(20, 100) // skipped: too soon
	now = now.Add(60 * time.Millisecond)
	p.update(30, 100) // drawn
	now = now.Add(time.Millisecond)
	p.update(100, 100) // drawn: the end always is
	draws := strings.Count(buf.String(), "\r")
	if draws != 3 {
		t.Errorf("%d draws; want 3: %q", draws, buf.String())
	}
	if !strings.Contains(buf.String(), " 30% ") || strings.Contains(buf.String(), " 20% ") {
		t.Errorf("wrong frames drawn: %q", buf.String())
	}
	buf.Reset()
	p.clear()
	width := len([]rune(formatProgress(100, 100, barWidth)))
	if want := "\r" + strings.Repeat(" ", width) + "\r"; buf.String() != want {
		t.Errorf("clear wrote %q; want %q", buf.String(), want)
	}
}

func TestProgressBarOff(t *testing.T) {
	// Not a terminal: no bar. A nil bar is safe to use.
	var buf bytes.Buffer
	p := newProgressBar(&buf)
	if p != nil {
		t.Fatalf("newProgressBar(buffer) = %v; want nil", p)
	}
	p.update(1, 2)
	p.clear()
	if buf.Len() != 0 {
		t.Errorf("wrote %q", buf.String())
	}
}

func TestCollect(t *testing.T) {
	// A listing of 7 documents served in pages of at most 3.
	var sizes []int32
	page := func(_ context.Context, size int32, token string) ([]*ndxpv1.DocumentSummary, string, error) {
		sizes = append(sizes, size)
		start := 0
		if token != "" {
			fmt.Sscan(token, &start)
		}
		var docs []*ndxpv1.DocumentSummary
		for i := start; i < 7 && len(docs) < int(min(size, 3)); i++ {
			docs = append(docs, &ndxpv1.DocumentSummary{Document: &ndxpv1.Document{Id: fmt.Sprint(i)}})
		}
		next := ""
		if end := start + len(docs); end < 7 {
			next = fmt.Sprint(end)
		}
		return docs, next, nil
	}
	tests := []struct {
		limit     int
		wantN     int
		wantSizes []int32
	}{
		{50, 7, []int32{50, 47, 44}},
		{5, 5, []int32{5, 2}},
		{3, 3, []int32{3}},
		{1000, 7, []int32{500, 500, 500}},
	}
	for _, tt := range tests {
		sizes = nil
		docs, err := collect(context.Background(), tt.limit, page)
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) != tt.wantN {
			t.Errorf("limit %d: %d documents; want %d", tt.limit, len(docs), tt.wantN)
		}
		for i, d := range docs {
			if d.GetDocument().GetId() != fmt.Sprint(i) {
				t.Errorf("limit %d: document %d is %s", tt.limit, i, d.GetDocument().GetId())
			}
		}
		if diff := cmp.Diff(tt.wantSizes, sizes); diff != "" {
			t.Errorf("limit %d: page sizes (-want +got):\n%s", tt.limit, diff)
		}
	}
}

func TestStatusSummary(t *testing.T) {
	r := func(code, recall string) *ndxpv1.RecipientTrace {
		return &ndxpv1.RecipientTrace{Status: code, StatusText: "text", Recall: recall}
	}
	tests := []struct {
		rs   []*ndxpv1.RecipientTrace
		want string
	}{
		{[]*ndxpv1.RecipientTrace{r("03", "")}, "03 text"},
		{[]*ndxpv1.RecipientTrace{r("", "")}, "-"},
		{[]*ndxpv1.RecipientTrace{r("06", "15")}, "06 text (recall 15)"},
		{[]*ndxpv1.RecipientTrace{r("06", ""), r("06", "")}, "06"},
		{[]*ndxpv1.RecipientTrace{r("06", ""), r("01", ""), r("", ""), r("01", "")}, "-:1 01:2 06:1"},
	}
	for _, tt := range tests {
		if got := statusSummary(tt.rs); got != tt.want {
			t.Errorf("statusSummary = %q; want %q", got, tt.want)
		}
	}
}
