package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// scrape is one reading of the hub's /metrics: each series' value summed
// over its labels except "method", which is kept as "name|method".
type scrape map[string]float64

// readMetrics fetches http://addr/metrics (loopback clients need no token).
func readMetrics(ctx context.Context, addr string) (scrape, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	return parseMetrics(bufio.NewScanner(resp.Body))
}

func parseMetrics(sc *bufio.Scanner) (scrape, error) {
	s := scrape{}
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil || math.IsNaN(v) {
			continue
		}
		series := line[:sp]
		name, labels, _ := strings.Cut(series, "{")
		key := name
		if _, rest, ok := strings.Cut(labels, `method="`); ok {
			if m, _, ok := strings.Cut(rest, `"`); ok {
				key += "|" + m
			}
		}
		s[key] += v
	}
	return s, sc.Err()
}

// hubStore is what the store did during a phase, from the hub's metrics.
type hubStore struct {
	Commits         int64   `json:"commits"`
	Writes          int64   `json:"writes"`
	WritesPerCommit float64 `json:"writes_per_commit"`
	CommitMSMean    float64 `json:"commit_ms_mean"`
	CommitsPerSec   float64 `json:"commits_per_second"`
	// Fsyncs counts every fdatasync of the store: one per commit (the
	// write-ahead log), two per transaction applying the log to the file.
	Fsyncs int64 `json:"fsyncs"`
	// FsyncsPerDocument is Fsyncs per document sent in the phase.
	FsyncsPerDocument float64 `json:"fsyncs_per_document,omitempty"`
}

// rpcStat is one method's calls during a phase, as the hub timed them.
type rpcStat struct {
	Calls  int64   `json:"calls"`
	MSMean float64 `json:"ms_mean"`
}

func storeDelta(a, b scrape, secs float64) *hubStore {
	commits := b["ndxp_store_commits_total"] - a["ndxp_store_commits_total"]
	writes := b["ndxp_store_writes_total"] - a["ndxp_store_writes_total"]
	dur := b["ndxp_store_commit_duration_seconds_sum"] - a["ndxp_store_commit_duration_seconds_sum"]
	h := &hubStore{Commits: int64(commits), Writes: int64(writes),
		Fsyncs: int64(b["ndxp_store_fsyncs_total"] - a["ndxp_store_fsyncs_total"])}
	if commits > 0 {
		h.WritesPerCommit = round3(writes / commits)
		h.CommitMSMean = round3(dur / commits * 1000)
	}
	if secs > 0 {
		h.CommitsPerSec = round3(commits / secs)
	}
	return h
}

// rpcDelta lists the unary and client-streaming methods called during the
// phase (server streams are timed over their whole life, so Subscribe's
// mean says nothing and is left out).
func rpcDelta(a, b scrape) map[string]rpcStat {
	const count, sum = "ndxp_rpc_duration_seconds_count|", "ndxp_rpc_duration_seconds_sum|"
	var methods []string
	for k := range b {
		if m, ok := strings.CutPrefix(k, count); ok && !longStream(m) {
			methods = append(methods, m)
		}
	}
	sort.Strings(methods)
	out := map[string]rpcStat{}
	for _, m := range methods {
		n := b[count+m] - a[count+m]
		if n <= 0 {
			continue
		}
		out[m] = rpcStat{Calls: int64(n), MSMean: round3((b[sum+m] - a[sum+m]) / n * 1000)}
	}
	return out
}

// longStream says whether method's calls last as long as the run (their
// durations say nothing).
func longStream(method string) bool {
	for _, m := range []string{"/Subscribe", "/Receive", "/SendDocuments", "/WatchSnapshot"} {
		if strings.HasSuffix(method, m) {
			return true
		}
	}
	return false
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
