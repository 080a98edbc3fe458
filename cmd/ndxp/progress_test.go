package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

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
