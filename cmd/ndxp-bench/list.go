package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// listResult is the cost of a big registry: importing it and paging
// through all of it as the operators' tools do.
type listResult struct {
	Count         int      `json:"count"`
	Imported      int      `json:"imported"`
	ImportSeconds float64  `json:"import_seconds"`
	Listed        int64    `json:"listed"`
	Pages         int      `json:"pages"`
	PageSize      int      `json:"page_size"`
	Seconds       float64  `json:"seconds"`
	HubCPUSeconds *float64 `json:"hub_cpu_seconds"`
	HubRSSBytes   *int64   `json:"hub_rss_bytes"`
}

const listPageSize = 1000

// listAgencies imports --list-agencies agencies in batches of 10,000 and
// times listing every registered agency, a page of 1000 at a time.
func (r *runner) listAgencies(ctx context.Context) (*listResult, error) {
	n := r.o.ListAgencies
	res := &listResult{Count: n, PageSize: listPageSize}
	list := codeList(letterList, n)
	t := time.Now()
	r.progress.show(func() string { return fmt.Sprintf("importing %d agencies (%.0fs)", n, time.Since(t).Seconds()) })
	created, err := register(ctx, r.admin, list, "ndxp-bench list")
	if err != nil {
		return nil, err
	}
	res.Imported, res.ImportSeconds = created, round3(time.Since(t).Seconds())

	var listed atomic.Int64
	p := r.begin(ctx)
	r.progress.show(func() string { return fmt.Sprintf("listed %d (%.1fs)", listed.Load(), time.Since(p.at).Seconds()) })
	token := ""
	for {
		resp, err := r.admin.Registry.ListAgencies(ctx, &ndxpv1.ListAgenciesRequest{PageSize: listPageSize, PageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list agencies (page %d): %w", res.Pages+1, err)
		}
		res.Pages++
		listed.Add(int64(len(resp.GetAgencies())))
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	res.Seconds = round3(time.Since(p.at).Seconds())
	res.Listed = listed.Load()
	e := r.end(p)
	res.HubCPUSeconds, res.HubRSSBytes = e.hubCPU, e.rss
	r.progress.stop()
	return res, nil
}
