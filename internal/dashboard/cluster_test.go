package dashboard_test

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/ndxp/ndxp/internal/dashboard"
)

// sampleCluster is the view of node n1, leading three nodes of which it
// cannot reach n3.
func sampleCluster() *dashboard.Cluster {
	return &dashboard.Cluster{
		Node: "n1", State: "Leader", Leader: "n1", LeaderGRPC: "10.0.0.1:7500",
		Members: []dashboard.ClusterMember{
			{ID: "n1", GRPC: "10.0.0.1:7500", Raft: "10.0.0.1:7502", Voter: true, Leader: true},
			{ID: "n2", GRPC: "10.0.0.2:7500", Raft: "10.0.0.2:7502", Voter: true},
			{ID: "n3", GRPC: "10.0.0.3:7500", Raft: "10.0.0.3:7502", Voter: true, Down: true, DownSince: t0.Add(-time.Minute)},
		},
		AppliedIndex: 40, CommitIndex: 42, Lag: 2,
	}
}

// TestSnapshotCluster: the snapshot carries the cluster panel beside the
// hub's fields when the hub is a cluster, and no "cluster" key otherwise.
func TestSnapshotCluster(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cluster func() *dashboard.Cluster
		want    *dashboard.Cluster
	}{
		{"no option", nil, nil},
		{"single node", func() *dashboard.Cluster { return nil }, nil},
		{"cluster", sampleCluster, sampleCluster()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSource{snap: sampleSnapshot(1)}
			srv := httptest.NewServer(dashboard.New(f, dashboard.Options{Cluster: tt.cluster}))
			defer srv.Close()
			_, body := get(t, srv, "/api/snapshot")
			var raw map[string]json.RawMessage
			if err := json.Unmarshal([]byte(body), &raw); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"overview", "agencies", "alerts", "per_minute"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("snapshot has no key %q", k)
				}
			}
			c, ok := raw["cluster"]
			if tt.want == nil {
				if ok {
					t.Errorf("single-node snapshot has a cluster: %s", c)
				}
				return
			}
			var got dashboard.Cluster
			if err := json.Unmarshal(c, &got); err != nil {
				t.Fatalf("cluster %s: %v", c, err)
			}
			if diff := cmp.Diff(*tt.want, got); diff != "" {
				t.Errorf("cluster (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBrowserCluster: the page shows the cluster panel with the members,
// the unreachable peer highlighted and named in an alert; a single-node
// hub shows no panel.
func TestBrowserCluster(t *testing.T) {
	findChrome(t)
	var single *dashboard.Cluster
	var current atomic.Pointer[dashboard.Cluster]
	current.Store(sampleCluster())
	srv := httptest.NewServer(dashboard.New(&fakeSource{snap: sampleSnapshot(1)}, dashboard.Options{MinInterval: 10 * time.Millisecond,
		Cluster: func() *dashboard.Cluster { return current.Load() }}))
	t.Cleanup(srv.Close)
	srvSingle := httptest.NewServer(dashboard.New(&fakeSource{snap: sampleSnapshot(1)}, dashboard.Options{
		Cluster: func() *dashboard.Cluster { return single }}))
	t.Cleanup(srvSingle.Close)
	tab, console := browser(t)

	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	type panel struct {
		Hidden bool     `json:"hidden"`
		Alert  string   `json:"alert"`
		Leader string   `json:"leader"`
		Lag    string   `json:"lag"`
		Down   []string `json:"down"`
		Rows   int      `json:"rows"`
	}
	const read = `(() => ({
	  hidden: document.getElementById('cluster').hidden,
	  alert: document.getElementById('cluster-alert').hidden ? '' : document.getElementById('cluster-alert').textContent,
	  leader: document.getElementById('cluster-leader').textContent,
	  lag: document.getElementById('cluster-lag').textContent,
	  down: Array.from(document.querySelectorAll('#cluster-members tr.down'), (tr) => tr.dataset.id),
	  rows: document.querySelectorAll('#cluster-members tbody tr').length,
	}))()`
	got := waitFor(t, tab, "the cluster panel", read, func(p panel) bool { return !p.Hidden && p.Rows == 3 })
	if got.Leader != "n1 — 10.0.0.1:7500" || got.Lag != "2 mục" || !cmp.Equal(got.Down, []string{"n3"}) {
		t.Errorf("panel %+v; want leader n1, lag 2, n3 down", got)
	}
	if path := os.Getenv("NDXP_SCREENSHOT"); path != "" {
		screenshot(t, tab, strings.TrimSuffix(path, filepath.Ext(path))+"-cluster"+filepath.Ext(path))
	}
	if want := "Nút dẫn không liên lạc được với nút n3"; !strings.HasPrefix(got.Alert, want) {
		t.Errorf("alert %q, want it to start with %q", got.Alert, want)
	}

	// A follower far behind, not hearing from the leader: both named.
	behind := sampleCluster()
	behind.Node, behind.State, behind.Members[0].Leader = "n2", "Follower", true
	behind.Members[2].Down = false
	behind.AppliedIndex, behind.CommitIndex, behind.Lag, behind.LastContactMs = 40, 5040, 5000, 7000
	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	current.Store(behind)
	got = waitFor(t, tab, "the lag alert", read, func(p panel) bool { return strings.Contains(p.Alert, "chậm") })
	for _, want := range []string{"Nút n2 chậm: 5.000 mục", "Nút n2 không nghe nút dẫn"} {
		if !strings.Contains(got.Alert, want) {
			t.Errorf("alert %q, want %q in it", got.Alert, want)
		}
	}

	if err := chromedp.Do(tab, chromedp.Navigate(srvSingle.URL+"/")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	waitFor(t, tab, "a single node's page", `document.getElementById('count-total').textContent`, func(s string) bool { return s == "2" })
	if p, err := chromedp.Run(tab, chromedp.Evaluate[panel](read)); err != nil || !p.Hidden {
		t.Errorf("single node: panel %+v (%v), want it hidden", p, err)
	}
	checkConsole(t, console)
}
