package dashboard_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/dashboard"
	"github.com/ndxp/ndxp/internal/hub"
	"github.com/ndxp/ndxp/internal/hubtest"
	"github.com/ndxp/ndxp/internal/store"
)

// BenchmarkEventsPush: a dashboard open on a registry of 100,000 agencies
// while a handful of them change between pushes. It reports the bytes of
// an event after the first (bytes/push) and the process's CPU per push
// (cpu-ns/push: taking the picture, encoding it, and reading it here; the
// renames are a small part), with the pacing cut to nothing so that every
// change is pushed as soon as it is made.
func BenchmarkEventsPush(b *testing.B) {
	const n, changed = 100000, 5
	m := hubtest.StartMem(b)
	list := make([]hub.Agency, n)
	for i := range list {
		list[i] = hub.Agency{Code: fmt.Sprintf("%03d.%02d.00.H47", i%1000, i/1000), Name: fmt.Sprintf("UBND xã số %d", i), Stage: hub.StagePilot}
	}
	if _, err := m.Hub.ImportAgencies(b.Context(), list); err != nil {
		b.Fatal(err)
	}
	// Wait until the import is in the file: the applier would otherwise
	// run during the timed loop and count as the pushes' CPU.
	if err := m.Store.Snapshot(b.Context(), func(store.Tx, int64, func(io.Writer) (int64, error)) error { return nil }); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(dashboard.New(m.Hub, dashboard.Options{MinInterval: time.Millisecond, Pacing: 1e-9, Heartbeat: time.Hour}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/events", nil)
	if err != nil {
		b.Fatal(err)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	// Each event's data as one string; the reader keeps up with the pushes.
	events := make(chan string, 1024)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 0, 1<<20), 256<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- d
			}
		}
	}()
	first, ok := <-events
	if !ok {
		b.Fatal("no first event")
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	var pushes, bytes int
	round := 0
	runtime.GC() // the first event's garbage is not the pushes'
	cpu0 := cpu()
	for b.Loop() {
		round++
		var last string
		for k := range changed {
			code := list[(round*changed+k)*7919%n].Code
			last = fmt.Sprintf("đổi tên %d-%d", round, k)
			if _, err := m.Hub.UpdateAgency(ctx, code, hub.AgencyUpdate{Name: &last}); err != nil {
				b.Fatal(err)
			}
		}
		// Read until the last rename has been pushed.
		for {
			d, ok := <-events
			if !ok {
				b.Fatal("the stream ended")
			}
			pushes++
			bytes += len(d)
			if strings.Contains(d, last) {
				break
			}
		}
	}
	b.ReportMetric(float64(len(first)), "first-bytes")
	b.ReportMetric(float64(bytes)/float64(pushes), "bytes/push")
	b.ReportMetric(float64(cpu()-cpu0)/float64(pushes), "cpu-ns/push")
	b.ReportMetric(float64(pushes)/float64(round), "pushes/op")
}
