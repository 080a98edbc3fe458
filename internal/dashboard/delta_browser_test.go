package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/ndxp/ndxp/internal/dashboard"
	"github.com/ndxp/ndxp/internal/hub"
	"github.com/ndxp/ndxp/internal/hubtest"
)

// countEvents wraps the page's EventSource before the page's script runs
// so that window.__ndxpEvents counts the "snapshot" and "delta" events
// the page is sent (across reconnections).
const countEvents = `(() => {
  window.__ndxpEvents = { snapshot: 0, delta: 0 };
  const ES = window.EventSource;
  function Counted(url, opts) {
    const es = new ES(url, opts);
    for (const k of ['snapshot', 'delta']) es.addEventListener(k, () => { window.__ndxpEvents[k]++; });
    return es;
  }
  Counted.prototype = ES.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSED']) Counted[k] = ES[k];
  window.EventSource = Counted;
})()`

// openCounting opens url in tab with the page's events counted
// (countEvents).
func openCounting(t *testing.T, tab context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: countEvents})
		return err
	}), chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
}

// TestBrowserDeltas: after the first snapshot the page is sent only
// deltas, and a change on the hub shows; when the connection drops, the
// reconnection brings the whole picture again, with what changed meanwhile.
func TestBrowserDeltas(t *testing.T) {
	findChrome(t)
	m := hubtest.StartMem(t)
	ctx := context.Background()
	const n = 30
	code := func(i int) string { return fmt.Sprintf("%03d.00.00.H47", i) }
	for i := range n {
		if _, err := m.Hub.CreateAgency(ctx, hub.Agency{Code: code(i), Name: fmt.Sprintf("UBND xã số %d", i), Stage: hub.StagePilot}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(dashboard.New(m.Hub, dashboard.Options{MinInterval: 10 * time.Millisecond}))
	t.Cleanup(srv.Close)
	tab, console := browser(t)
	openCounting(t, tab, srv.URL+"/")
	type events struct {
		Snapshot int `json:"snapshot"`
		Delta    int `json:"delta"`
	}
	const readEvents = `window.__ndxpEvents`
	name := func(p pageState, c string) string {
		r, _ := p.row(c)
		return r.Name
	}
	waitFor(t, tab, "every row", readPage, func(p pageState) bool { return len(p.Rows) == n })

	// A rename reaches the page as a delta.
	renamed := "UBND xã Đổi Tên"
	if _, err := m.Hub.UpdateAgency(ctx, code(7), hub.AgencyUpdate{Name: &renamed}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tab, "the renamed row", readPage, func(p pageState) bool { return name(p, code(7)) == renamed })
	if ev := waitFor(t, tab, "the events", readEvents, func(events) bool { return true }); ev.Snapshot != 1 || ev.Delta < 1 {
		t.Errorf("events before a reconnection: %+v, want one snapshot and deltas", ev)
	}

	checkConsole(t, console)

	// Drop the connection; change the hub while the page reconnects.
	// (The browser logs the cut stream as an error: from here on only
	// exceptions count.)
	srv.CloseClientConnections()
	again := "UBND xã Đổi Tên Lần Hai"
	if _, err := m.Hub.UpdateAgency(ctx, code(3), hub.AgencyUpdate{Name: &again}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Hub.CreateAgency(ctx, hub.Agency{Code: code(n), Name: "UBND xã Mới", Stage: hub.StagePending}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tab, "a second snapshot after the reconnection", readEvents, func(ev events) bool { return ev.Snapshot == 2 })
	p := waitFor(t, tab, "the changes made while disconnected", readPage, func(p pageState) bool {
		return len(p.Rows) == n+1 && name(p, code(3)) == again && name(p, code(n)) == "UBND xã Mới"
	})
	if got := name(p, code(7)); got != renamed {
		t.Errorf("row %s after the reconnection: %q, want %q", code(7), got, renamed)
	}
	for _, m := range console() {
		if m.IsException() {
			t.Errorf("page console: %s", m)
		}
	}
}

// TestBrowserLateFetch: the page's first fetch of /api/snapshot, answered
// after the stream's first picture, does not replace that picture: the
// deltas that follow apply to the stream's picture, so an older one put
// back by the fetch would stay up for good.
func TestBrowserLateFetch(t *testing.T) {
	findChrome(t)
	fresh := sampleCluster()
	fresh.Lag = 5000
	h := dashboard.New(&fakeSource{snap: sampleSnapshot(1)}, dashboard.Options{MinInterval: 10 * time.Millisecond, Heartbeat: 100 * time.Millisecond,
		Cluster: func() *dashboard.Cluster { return fresh }})
	old := httptest.NewRecorder()
	dashboard.New(&fakeSource{snap: sampleSnapshot(1)}, dashboard.Options{Cluster: sampleCluster}).
		ServeHTTP(old, httptest.NewRequest("GET", "/api/snapshot", nil))
	answered := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/snapshot" {
			h.ServeHTTP(w, r)
			return
		}
		// The picture from before the change, answered after the stream
		// has sent the one after it.
		select {
		case <-time.After(time.Second):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(old.Body.Bytes())
		close(answered)
	}))
	t.Cleanup(srv.Close)
	tab, console := browser(t)
	openCounting(t, tab, srv.URL+"/")
	lag := `document.getElementById('cluster-lag').textContent`
	waitFor(t, tab, "the stream's picture", lag, func(s string) bool { return s == "5.000 mục" })
	select {
	case <-answered:
	case <-tab.Done():
		t.Fatal("the page did not fetch /api/snapshot")
	}
	// Three deltas after the fetch's answer: the page has had time to
	// render it.
	const deltas = `window.__ndxpEvents.delta`
	n := waitFor(t, tab, "the deltas", deltas, func(int) bool { return true })
	waitFor(t, tab, "three more deltas", deltas, func(d int) bool { return d >= n+3 })
	if got, err := chromedp.Run(tab, chromedp.Evaluate[string](lag)); err != nil || got != "5.000 mục" {
		t.Errorf("lag shown after the late fetch: %q (%v), want the stream's 5.000 mục", got, err)
	}
	checkConsole(t, console)
}
