// Package dashboard is the hub's monitoring web page: embedded static
// assets (no CDN: it works without internet) and the JSON and
// server-sent-event endpoints they read.
//
//	GET /                                   the page
//	GET /assets/...                         its CSS and JavaScript
//	GET /api/snapshot                       hub.Snapshot as JSON
//	GET /api/events                         text/event-stream: a "snapshot" event, then "delta" events
//	GET /api/agencies/{code}/documents?n=N[&doc=ID]
//	                                        recent documents of an agency, with each recipient's status;
//	                                        doc ID (one it sent or received) comes first, marked focus
package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ndxp/ndxp/internal/hub"
)

//go:embed assets
var assets embed.FS

// Source is what the dashboard shows; *hub.Hub implements it.
type Source interface {
	Snapshot(ctx context.Context) (hub.Snapshot, error)
	RecentDocuments(ctx context.Context, code string, n int) ([]hub.DocumentView, error)
	// AgencyDocument returns a document the agency sent or received.
	AgencyDocument(ctx context.Context, code, id string) (hub.DocumentView, error)
	Watch(ctx context.Context) <-chan struct{}
}

// Options tune the dashboard.
type Options struct {
	// Logger receives errors; nil discards them.
	Logger *slog.Logger
	// MinInterval is the least time between two pushed snapshots (default
	// 250 ms).
	MinInterval time.Duration
	// Pacing: after a change, a viewer also waits at least Pacing times
	// what the last snapshot took to take and encode (default
	// DefaultPacing), so keeping it live costs at most about 1/Pacing of a
	// core however large the registry.
	Pacing float64
	// Heartbeat is the longest time between two pushed snapshots (default 5 s),
	// so ages and "last seen" stay fresh without any change.
	Heartbeat time.Duration
	// EventWriteTimeout is the longest writing one event may take (default
	// 1 min). The event stream outlives the server's WriteTimeout, which
	// bounds a whole response; this still drops a viewer that stops
	// reading.
	EventWriteTimeout time.Duration
	// Cluster returns the hub's cluster panel, nil for a single-node hub;
	// nil Cluster: no panel.
	Cluster func() *Cluster
}

// Cluster is the cluster panel: the view of the node serving the page.
// It is the snapshot's "cluster" field, absent for a single-node hub.
type Cluster struct {
	Node          string          `json:"node"`
	State         string          `json:"state"` // Leader, Follower, Candidate or Shutdown
	Leader        string          `json:"leader"`
	LeaderGRPC    string          `json:"leader_grpc,omitempty"`
	Members       []ClusterMember `json:"members"`
	AppliedIndex  uint64          `json:"applied_index"`
	CommitIndex   uint64          `json:"commit_index"`
	Lag           uint64          `json:"lag"`             // commit minus applied index
	LastContactMs int64           `json:"last_contact_ms"` // 0 on the leader, -1 never
	Error         string          `json:"error,omitempty"`
}

// ClusterMember is a member of the cluster.
type ClusterMember struct {
	ID     string `json:"id"`
	GRPC   string `json:"grpc,omitempty"`
	Raft   string `json:"raft"`
	Voter  bool   `json:"voter"`
	Leader bool   `json:"leader"`
	// Down: the leader cannot reach it (known on the leader only), since
	// DownSince.
	Down      bool      `json:"down,omitempty"`
	DownSince time.Time `json:"down_since,omitzero"`
}

// withCluster is a snapshot with the cluster panel, its fields alongside
// the hub's.
type withCluster struct {
	hub.Snapshot
	Cluster *Cluster `json:"cluster"`
}

type handler struct {
	src  Source
	opts Options
	mux  *http.ServeMux

	mu     sync.Mutex
	cached *picture
	cost   time.Duration // what the last push took to take and encode
	// lastDelta is the last delta encoded, shared by the viewers that
	// go from the same picture to the same next one.
	lastDelta struct {
		from, to *picture
		b        []byte
	}
}

// picture is one snapshot as the dashboard sends it: whole to a new
// viewer, as the difference from the one before to a viewer that has it.
type picture struct {
	at      time.Time // when it was begun
	cost    time.Duration
	snap    hub.Snapshot
	cluster *Cluster
	parts   map[string]json.RawMessage // every field but the agency lines, as JSON
	cached  []byte                     // the whole picture as JSON, once asked for
}

// full is the picture's JSON, encoded at most once.
func (p *picture) full(h *handler) ([]byte, time.Duration, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p.cached != nil {
		return p.cached, 0, nil
	}
	start := time.Now()
	var v any = p.snap
	if p.cluster != nil {
		v = withCluster{Snapshot: p.snap, Cluster: p.cluster}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, 0, err
	}
	p.cached = b
	return p.cached, time.Since(start), nil
}

// delta is the JSON of a "delta" event: what changed from one picture to
// the next. Set holds the changed fields other than the agency lines (null
// for one that is gone), Agencies the new and changed lines whole, and
// Removed the codes of the lines that are gone.
type delta struct {
	Set      map[string]json.RawMessage `json:"set"`
	Agencies []hub.AgencyStatus         `json:"agencies"`
	Removed  []string                   `json:"removed,omitempty"`
}

// deltaJSON encodes what turns picture from into picture to, once for all
// the viewers that make the same step.
func (h *handler) deltaJSON(from, to *picture) ([]byte, time.Duration, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lastDelta.from == from && h.lastDelta.to == to {
		return h.lastDelta.b, 0, nil
	}
	start := time.Now()
	d := delta{Set: map[string]json.RawMessage{}, Agencies: []hub.AgencyStatus{}}
	for k, v := range to.parts {
		if !bytes.Equal(from.parts[k], v) {
			d.Set[k] = v
		}
	}
	for k := range from.parts {
		if _, ok := to.parts[k]; !ok {
			d.Set[k] = json.RawMessage("null")
		}
	}
	changed, removed := hub.DiffAgencies(from.snap.Agencies, to.snap.Agencies)
	if changed != nil {
		d.Agencies = changed
	}
	d.Removed = removed
	b, err := json.Marshal(d)
	if err != nil {
		return nil, 0, err
	}
	h.lastDelta.from, h.lastDelta.to, h.lastDelta.b = from, to, b
	return b, time.Since(start), nil
}

// DefaultPacing is Options.Pacing's default. A snapshot grows with the
// registry and under steady traffic every change is followed by one, so
// paced at ten times its cost each viewer takes at most about a tenth of
// a core, and a large registry slows the pushes instead
// (docs/performance.md has the figures).
const DefaultPacing = 10

// pace is how long a viewer waits after a change before its next snapshot.
func (h *handler) pace() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return max(h.opts.MinInterval, time.Duration(h.opts.Pacing*float64(h.cost)))
}

// New returns the dashboard's HTTP handler.
func New(src Source, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = 250 * time.Millisecond
	}
	if opts.Pacing <= 0 {
		opts.Pacing = DefaultPacing
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 5 * time.Second
	}
	if opts.EventWriteTimeout <= 0 {
		opts.EventWriteTimeout = time.Minute
	}
	h := &handler{src: src, opts: opts, mux: http.NewServeMux()}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	h.mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, static, "index.html")
	})
	h.mux.HandleFunc("GET /api/snapshot", h.snapshot)
	h.mux.HandleFunc("GET /api/events", h.events)
	h.mux.HandleFunc("GET /api/agencies/{code}/documents", h.documents)
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	h.mux.ServeHTTP(w, r)
}

// take takes a picture, sharing one taken in the last 200 ms between
// concurrent viewers so many open dashboards cost one scan.
//
// A shared picture is never older than MinInterval, counted from when it
// was started: a viewer told of a change waits MinInterval before asking,
// so whatever it gets was begun after the change. (Counting from the end of
// a slow scan, or sharing for longer than MinInterval, pushed the picture
// from before the change and left it up until the next heartbeat.)
func (h *handler) take(ctx context.Context) (*picture, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cached != nil && time.Since(h.cached.at) < min(200*time.Millisecond, h.opts.MinInterval) {
		return h.cached, nil
	}
	start := time.Now()
	s, err := h.src.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	// The fields other than the agency lines are few and small: each is
	// encoded on its own, to be sent again only when it changes.
	summary := s
	summary.Agencies = nil
	var v any = summary
	var cluster *Cluster
	if h.opts.Cluster != nil {
		if cluster = h.opts.Cluster(); cluster != nil {
			v = withCluster{Snapshot: summary, Cluster: cluster}
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	p := &picture{at: start, snap: s, cluster: cluster}
	if err := json.Unmarshal(b, &p.parts); err != nil {
		return nil, err
	}
	delete(p.parts, "agencies")
	p.cost = time.Since(start)
	h.cached, h.cost = p, p.cost
	return p, nil
}

func (h *handler) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	h.opts.Logger.Error("dashboard", "err", err)
	http.Error(w, "the hub could not take a snapshot; see its log", http.StatusInternalServerError)
}

func (h *handler) snapshot(w http.ResponseWriter, r *http.Request) {
	p, err := h.take(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	b, _, err := p.full(h)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

// events pushes the whole picture at once (a "snapshot" event), then
// whenever the hub reports a change (at most every MinInterval) and at
// least every Heartbeat only what changed since the last push (a "delta"
// event). A viewer that reconnects starts again from the whole picture.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	// The server's WriteTimeout bounds a whole response and would end the
	// stream: bound each event's write instead. (Its ReadTimeout does not
	// matter: net/http lifts the read deadline once the request is read.)
	// Servers without deadlines answer ErrNotSupported, which changes
	// nothing.
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(h.opts.EventWriteTimeout))
	ctx := r.Context()
	changes := h.src.Watch(ctx)
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	heartbeat := time.NewTicker(h.opts.Heartbeat)
	defer heartbeat.Stop()
	var sent *picture // the picture this viewer has
	for {
		p, err := h.take(ctx)
		if err != nil {
			h.opts.Logger.Error("dashboard events", "err", err)
			return
		}
		event := "delta"
		var b []byte
		var took time.Duration
		if sent == nil {
			event = "snapshot"
			b, took, err = p.full(h)
		} else {
			b, took, err = h.deltaJSON(sent, p)
		}
		if err != nil {
			h.opts.Logger.Error("dashboard events", "err", err)
			return
		}
		if took > 0 {
			h.mu.Lock()
			h.cost = p.cost + took
			h.mu.Unlock()
		}
		sent = p
		rc.SetWriteDeadline(time.Now().Add(h.opts.EventWriteTimeout))
		if _, err := io.WriteString(w, "retry: 2000\nevent: "+event+"\ndata: "); err != nil {
			return
		}
		w.Write(b)
		if _, err := io.WriteString(w, "\n\n"); err != nil {
			return
		}
		fl.Flush()
		// No deadline between events: HTTP/2 resets a stream whose
		// deadline passes even while nothing is being written.
		rc.SetWriteDeadline(time.Time{})
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
		case _, ok := <-changes:
			if !ok {
				return
			}
			// Coalesce bursts: wait a little, then send one snapshot.
			t := time.NewTimer(h.pace())
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// docView is the JSON shape of a document in the drill-down.
type docView struct {
	ID         string         `json:"id"`
	Reference  string         `json:"reference"`
	Sender     string         `json:"sender"`
	SenderName string         `json:"sender_name"`
	Subject    string         `json:"subject"`
	Created    time.Time      `json:"created"`
	Recalled   bool           `json:"recalled"`
	Recipients []recipientRow `json:"recipients"`
	// Focus marks the document asked for with doc=ID (the oldest stuck
	// one, when the drill-down opens from an alert or a link).
	Focus bool `json:"focus,omitempty"`
}

type recipientRow struct {
	Code       string     `json:"code"`
	Name       string     `json:"name"`
	Status     string     `json:"status"`
	StatusText string     `json:"status_text"`
	Recall     string     `json:"recall,omitempty"`
	Delivered  *time.Time `json:"delivered,omitempty"`
	// Failures counts the recipient's reports that it could not take the
	// document (VXP updateStatus fail).
	Failures int `json:"failures,omitempty"`
}

func (h *handler) documents(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	code := r.PathValue("code")
	list, err := h.src.RecentDocuments(r.Context(), code, n)
	var focus *hub.DocumentView
	if id := r.URL.Query().Get("doc"); err == nil && id != "" {
		v, ferr := h.src.AgencyDocument(r.Context(), code, id)
		switch {
		case ferr == nil:
			focus = &v
		case errors.Is(ferr, hub.ErrNotFound), errors.Is(ferr, hub.ErrInvalid):
			// Taken meanwhile, or a stale link: the list alone is the answer.
		default:
			err = ferr
		}
	}
	if err != nil {
		var he *hub.Error
		if errors.As(err, &he) {
			code := http.StatusBadRequest
			switch {
			case errors.Is(err, hub.ErrNotFound):
				code = http.StatusNotFound
			case errors.Is(err, hub.ErrUnavailable):
				code = http.StatusServiceUnavailable
			case errors.Is(err, hub.ErrPermission), errors.Is(err, hub.ErrUnauthenticated):
				code = http.StatusForbidden
			}
			http.Error(w, he.Error(), code)
			return
		}
		h.fail(w, err)
		return
	}
	out := make([]docView, 0, len(list)+1)
	if focus != nil {
		out = append(out, viewDoc(*focus))
		out[0].Focus = true
	}
	for _, v := range list {
		if focus != nil && v.Doc.ID == focus.Doc.ID {
			continue
		}
		out = append(out, viewDoc(v))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(out)
}

// viewDoc is the drill-down's shape of a document.
func viewDoc(v hub.DocumentView) docView {
	d := docView{ID: v.Doc.ID, Reference: v.Doc.Header.Reference, Sender: v.Doc.Sender, SenderName: v.SenderName,
		Subject: v.Doc.Header.Subject, Created: v.Doc.Created, Recalled: v.Doc.Recalled != nil}
	for _, dl := range v.Deliveries {
		text := dl.Status.Text()
		if text == "" {
			text = "queued"
		}
		d.Recipients = append(d.Recipients, recipientRow{Code: dl.Recipient, Name: dl.Name, Status: string(dl.Status),
			StatusText: text, Recall: string(dl.Recall), Delivered: dl.Delivered, Failures: dl.Failures})
	}
	return d
}
