package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ndxp/ndxp/internal/dashboard"
	"github.com/ndxp/ndxp/internal/hub"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// recordingSource is a real hub whose every snapshot is kept, by its
// time, so an event can be checked against the snapshot it was made from.
type recordingSource struct {
	*hub.Hub
	mu    sync.Mutex
	taken map[string]hub.Snapshot
}

func (r *recordingSource) Snapshot(ctx context.Context) (hub.Snapshot, error) {
	s, err := r.Hub.Snapshot(ctx)
	if err == nil {
		r.mu.Lock()
		r.taken[s.Time.Format(time.RFC3339Nano)] = s
		r.mu.Unlock()
	}
	return s, err
}

// model is what a viewer knows after applying the events it was sent, as
// the page keeps it: the fields but the agency lines, and the lines by code.
type model struct {
	fields map[string]any
	lines  map[string]any
}

// wholeModel is the model of a whole snapshot's JSON.
func wholeModel(t *testing.T, data []byte) model {
	t.Helper()
	var m model
	if err := json.Unmarshal(data, &m.fields); err != nil {
		t.Fatalf("snapshot: %v\n%s", err, data)
	}
	list, _ := m.fields["agencies"].([]any)
	delete(m.fields, "agencies")
	m.lines = map[string]any{}
	for _, a := range list {
		m.lines[a.(map[string]any)["code"].(string)] = a
	}
	return m
}

// apply applies one event of the stream, as app.js does.
func (m *model) apply(t *testing.T, ev sseEvent) {
	t.Helper()
	switch ev.name {
	case "snapshot":
		*m = wholeModel(t, []byte(ev.data))
	case "delta":
		if m.fields == nil {
			t.Fatal("a delta before the whole picture")
		}
		var d struct {
			Set      map[string]any   `json:"set"`
			Agencies []map[string]any `json:"agencies"`
			Removed  []string         `json:"removed"`
		}
		if err := json.Unmarshal([]byte(ev.data), &d); err != nil {
			t.Fatalf("delta: %v\n%s", err, ev.data)
		}
		for k, v := range d.Set {
			if v == nil {
				delete(m.fields, k)
			} else {
				m.fields[k] = v
			}
		}
		for _, a := range d.Agencies {
			m.lines[a["code"].(string)] = a
		}
		for _, code := range d.Removed {
			delete(m.lines, code)
		}
	default:
		t.Fatalf("event %q", ev.name)
	}
}

// check compares the model with the whole snapshot it should now equal.
func (m *model) check(t *testing.T, what string, want hub.Snapshot) {
	t.Helper()
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	w := wholeModel(t, b)
	if diff := cmp.Diff(w.fields, m.fields); diff != "" {
		t.Fatalf("%s: fields differ from a whole snapshot (-want +got):\n%s", what, diff)
	}
	if diff := cmp.Diff(w.lines, m.lines); diff != "" {
		t.Fatalf("%s: agency lines differ from a whole snapshot (-want +got):\n%s", what, diff)
	}
}

// TestDeltasFollowTheHub: the whole picture, then deltas applied one after
// the other, equal at every step the whole snapshot the step was made from,
// while agencies are added, renamed, moved between stages, suspended,
// connected and disconnected, and sent documents.
func TestDeltasFollowTheHub(t *testing.T) {
	m := hubtest.StartMem(t)
	src := &recordingSource{Hub: m.Hub, taken: map[string]hub.Snapshot{}}
	// A short heartbeat: a push follows every round of changes even when
	// the hub's notice came before the round ended.
	srv := httptest.NewServer(dashboard.New(src, dashboard.Options{MinInterval: 5 * time.Millisecond, Pacing: 1e-9, Heartbeat: 50 * time.Millisecond}))
	t.Cleanup(srv.Close)
	ctx := t.Context()

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 0))
	var codes []string
	add := func() string {
		code := fmt.Sprintf("%03d.00.00.H%02d", len(codes), 10+rnd.IntN(80))
		if _, err := m.Hub.CreateAgency(ctx, hub.Agency{Code: code, Name: "Cơ quan " + code, Stage: hub.StagePending}); err != nil {
			t.Fatal(err)
		}
		codes = append(codes, code)
		return code
	}
	for range 20 {
		add()
	}
	// Two agencies with systems: one sends, one connects and disconnects.
	sender, receiver := m.Agency("100.00.00.G22"), m.Agency("100.00.00.H41")
	codes = append(codes, "100.00.00.G22", "100.00.00.H41")
	systems := map[string]bool{"100.00.00.G22": true, "100.00.00.H41": true}
	var stopRecv context.CancelFunc
	var recvDone chan struct{}
	toggle := func() {
		if stopRecv != nil {
			stopRecv()
			<-recvDone
			stopRecv = nil
			return
		}
		var sub context.Context
		sub, stopRecv = context.WithCancel(ctx)
		recvDone = make(chan struct{})
		go func() {
			defer close(recvDone)
			receiver.Subscribe(sub, func(context.Context, *ndxpv1.Event) error { return nil })
		}()
	}
	t.Cleanup(func() {
		if stopRecv != nil {
			stopRecv()
			<-recvDone
		}
	})

	events := openEvents(t, srv)
	var got model
	next := func(what string) hub.Snapshot {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("%s: the stream ended", what)
			}
			got.apply(t, ev)
			stamp, _ := got.fields["time"].(string)
			src.mu.Lock()
			want, ok := src.taken[stamp]
			src.mu.Unlock()
			if !ok {
				t.Fatalf("%s: no snapshot taken at %q", what, stamp)
			}
			got.check(t, what, want)
			return want
		case <-time.After(patience(t)):
			t.Fatalf("%s: no event", what)
		}
		panic("unreachable")
	}
	if first := next("first event"); len(first.Agencies) != len(codes) {
		t.Fatalf("first event: %d agencies, want %d", len(first.Agencies), len(codes))
	}
	stages := []hub.Stage{hub.StagePending, hub.StagePilot, hub.StageProduction}
	for round := range 25 {
		for range 1 + rnd.IntN(4) {
			code := codes[rnd.IntN(len(codes))]
			if systems[code] {
				// Kept able to send and receive: a pending or suspended
				// agency cannot.
				code = codes[rnd.IntN(20)]
			}
			var err error
			switch rnd.IntN(6) {
			case 0:
				add()
			case 1:
				name := fmt.Sprintf("Đổi tên %d lần %d", rnd.IntN(1000), round)
				_, err = m.Hub.UpdateAgency(ctx, code, hub.AgencyUpdate{Name: &name})
			case 2:
				_, err = m.Hub.SetStage(ctx, code, stages[rnd.IntN(len(stages))])
			case 3:
				_, err = m.Hub.SetSuspended(ctx, code, rnd.IntN(2) == 0, "kiểm tra")
			case 4:
				toggle()
			case 5:
				_, err = sender.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{"100.00.00.H41"}, Subject: "Thử", Number: fmt.Sprintf("%d/T", round)}, nil)
			}
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		// Every event is checked; read until one taken after the round.
		end := time.Now()
		for i := 0; ; i++ {
			if s := next(fmt.Sprintf("round %d, event %d", round, i)); s.Time.After(end) {
				break
			}
		}
	}
}

// TestDeltaRemovesAgencies: a line gone from the picture is named in the
// delta and leaves the model; a line added appears. (A hub never forgets
// an agency; a source may.)
func TestDeltaRemovesAgencies(t *testing.T) {
	f := &fakeSource{snap: sampleSnapshot(1)}
	srv := httptest.NewServer(dashboard.New(f, dashboard.Options{MinInterval: 10 * time.Millisecond, Heartbeat: time.Hour}))
	t.Cleanup(srv.Close)
	events := openEvents(t, srv)
	var got model
	read := func(what, want string) {
		t.Helper()
		select {
		case ev := <-events:
			if ev.name != want {
				t.Fatalf("%s: event %q, want %q", what, ev.name, want)
			}
			got.apply(t, ev)
		case <-time.After(patience(t)):
			t.Fatalf("%s: no event", what)
		}
	}
	read("first event", "snapshot")
	s := sampleSnapshot(1)
	s.Time = s.Time.Add(time.Second)
	s.Agencies = []hub.AgencyStatus{s.Agencies[1], {Code: "000.00.00.H14", Name: "UBND tỉnh Cao Bằng", Stage: hub.StagePilot}}
	s.Alerts = []hub.Alert{}
	s.OldestPending = time.Time{}
	f.set(s)
	f.poke()
	read("after a removal", "delta")
	got.check(t, "after a removal", s)
}
