package hub

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/ndxp/ndxp/internal/store"
)

// Snapshot is what operators see at a glance: the registry counts, the
// traffic, the backlog and the alerts, with one line per agency.
type Snapshot struct {
	Time              time.Time       `json:"time"`
	Overview          Overview        `json:"overview"`
	DocumentsToday    int             `json:"documents_today"`
	DeliveredToday    int             `json:"delivered_today"`
	PendingDeliveries int             `json:"pending_deliveries"`
	OldestPending     time.Time       `json:"oldest_pending,omitzero"`
	OldestPendingAge  float64         `json:"oldest_pending_seconds"`
	Agencies          []AgencyStatus  `json:"agencies"`
	PerMinute         []MinuteCount   `json:"per_minute"`
	Alerts            []Alert         `json:"alerts"`
	Thresholds        AlertThresholds `json:"thresholds"`
}

// AgencyStatus is one agency's line on the dashboard.
type AgencyStatus struct {
	Code           string    `json:"code"`
	Name           string    `json:"name"`
	Stage          Stage     `json:"stage"`
	Suspended      bool      `json:"suspended"`
	Online         bool      `json:"online"`
	Via            string    `json:"via,omitempty"` // ViaStream, ViaPolling, "" offline
	ConnectedSince time.Time `json:"connected_since,omitzero"`
	LastSeen       time.Time `json:"last_seen,omitzero"`
	LastPolled     time.Time `json:"last_polled,omitzero"`
	Pending        int       `json:"pending"`
	OldestPending  time.Time `json:"oldest_pending,omitzero"`
	// OldestPendingDoc is the document that has waited longest for it.
	OldestPendingDoc string `json:"oldest_pending_document,omitempty"`
	// Failures counts its reports that it could not take a document
	// still waiting for it (ReportDeliveryFailure).
	Failures      int `json:"failures,omitempty"`
	SentToday     int `json:"sent_today"`
	ReceivedToday int `json:"received_today"`
}

// MinuteCount counts documents accepted and delivered in one minute.
type MinuteCount struct {
	Minute    time.Time `json:"minute"`
	Sent      int       `json:"sent"`
	Delivered int       `json:"delivered"`
}

// AlertKind names what an alert is about.
type AlertKind string

// Alert kinds.
const (
	// AlertUnacknowledged: a recipient has not acknowledged documents in
	// time; one alert per recipient, naming the oldest.
	AlertUnacknowledged AlertKind = "unacknowledged"
	// AlertOfflineBacklog: an agency is offline while documents wait for it.
	AlertOfflineBacklog AlertKind = "offline_backlog"
	// AlertDeliveryFailures: a recipient reported that it could not take
	// documents that still wait for it; one alert per recipient, naming
	// the oldest such document.
	AlertDeliveryFailures AlertKind = "delivery_failures"
)

// Alert is something an operator should look at.
type Alert struct {
	Kind     AlertKind `json:"kind"`
	Agency   string    `json:"agency"`
	Name     string    `json:"name"`
	Document string    `json:"document,omitempty"` // unacknowledged: the oldest document
	Since    time.Time `json:"since"`
	Count    int       `json:"count,omitempty"` // unacknowledged: documents overdue; offline: documents waiting; failures: documents that failed
	// Failures counts the failure reports (delivery_failures), the last at LastFailure.
	Failures    int       `json:"failures,omitempty"`
	LastFailure time.Time `json:"last_failure,omitzero"`
	Message     string    `json:"message"`
}

// AlertThresholds say when the hub raises alerts.
type AlertThresholds struct {
	// UnackedAfter: a document waiting longer than this for its recipient's
	// acknowledgement raises an alert.
	UnackedAfter time.Duration `json:"unacked_after_ns"`
}

// traffic keeps today's counts and the last hour's per-minute counts in
// memory; they are rebuilt from the store at start.
type traffic struct {
	mu       sync.Mutex
	now      func() time.Time // the hub's clock (Config.Now)
	loc      *time.Location
	day      time.Time // local midnight of "today"
	docs     int
	delivs   int
	sent     map[string]int
	received map[string]int
	minutes  [60]MinuteCount
}

func newTraffic(loc *time.Location, now func() time.Time) *traffic {
	return &traffic{now: now, loc: loc, sent: map[string]int{}, received: map[string]int{}}
}

func (t *traffic) roll(now time.Time) {
	y, m, d := now.In(t.loc).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, t.loc)
	if !day.Equal(t.day) {
		t.day, t.docs, t.delivs = day, 0, 0
		t.sent, t.received = map[string]int{}, map[string]int{}
	}
}

func (t *traffic) minute(now time.Time) *MinuteCount {
	m := now.Truncate(time.Minute)
	slot := &t.minutes[m.Unix()/60%60]
	if !slot.Minute.Equal(m) {
		*slot = MinuteCount{Minute: m}
	}
	return slot
}

func (t *traffic) addSend(at time.Time, sender string, recipients []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.roll(now)
	if !at.Before(t.day) {
		t.docs++
		t.sent[sender]++
		for _, r := range recipients {
			t.received[r]++
		}
	}
	if now.Sub(at) < time.Hour {
		t.minute(at).Sent++
	}
}

func (t *traffic) addDelivered(at time.Time, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.roll(t.now())
	t.delivs += n
	t.minute(at).Delivered += n
}

// lastHour returns the 60 minutes up to now, oldest first.
func (t *traffic) lastHour(now time.Time) []MinuteCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]MinuteCount, 60)
	end := now.Truncate(time.Minute)
	for i := range out {
		m := end.Add(time.Duration(i-59) * time.Minute)
		slot := t.minutes[m.Unix()/60%60]
		if slot.Minute.Equal(m) {
			out[i] = slot
		} else {
			out[i] = MinuteCount{Minute: m}
		}
	}
	return out
}

// loadTraffic rebuilds today's and the last hour's counts from the
// documents: ids are ULIDs, so the scan starts at the earlier of the two.
func (h *Hub) loadTraffic(ctx context.Context) error {
	now := h.cfg.Now()
	t := h.traffic
	t.roll(now)
	from := t.day
	if hourAgo := now.Add(-time.Hour); hourAgo.Before(from) {
		from = hourAgo
	}
	var start ulid.ULID
	if err := start.SetTime(ulid.Timestamp(from)); err != nil {
		return err
	}
	return h.st.View(ctx, func(tx store.Tx) error {
		if err := tx.Scan(store.BucketDocuments, nil, []byte(start.String()), func(_, v []byte) (bool, error) {
			var d Document
			if err := decodeRecord(v, &d); err != nil {
				return false, err
			}
			t.addSend(d.Created, d.Sender, d.Header.Recipients)
			return true, ctx.Err()
		}); err != nil {
			return err
		}
		// Deliveries are keyed by document id, so this counts those of
		// the documents sent since then: one sent before and acknowledged
		// since is not counted again.
		return tx.Scan(store.BucketDeliveries, nil, []byte(start.String()), func(_, v []byte) (bool, error) {
			var d Delivery
			if err := decodeRecord(v, &d); err != nil {
				return false, err
			}
			if d.Delivered != nil {
				t.loadDelivered(*d.Delivered)
			}
			return true, ctx.Err()
		})
	})
}

// loadDelivered counts a delivery found in the store (loadTraffic).
func (t *traffic) loadDelivered(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.roll(now)
	if !at.Before(t.day) {
		t.delivs++
	}
	if now.Sub(at) < time.Hour {
		t.minute(at).Delivered++
	}
}

// watchers fan out "something changed" to dashboards and Watch streams.
type watchers struct {
	mu sync.Mutex
	m  map[chan struct{}]struct{}
}

func (w *watchers) add() chan struct{} {
	c := make(chan struct{}, 1)
	w.mu.Lock()
	if w.m == nil {
		w.m = map[chan struct{}]struct{}{}
	}
	w.m[c] = struct{}{}
	w.mu.Unlock()
	return c
}

func (w *watchers) remove(c chan struct{}) {
	w.mu.Lock()
	delete(w.m, c)
	w.mu.Unlock()
}

func (w *watchers) notify() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for c := range w.m {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// Watch returns a channel that receives (coalesced) whenever the snapshot
// may have changed: a connection, a send, an acknowledgement, a status,
// a registry change. It is closed when ctx ends.
func (h *Hub) Watch(ctx context.Context) <-chan struct{} {
	c := h.watch.add()
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		defer h.watch.remove(c)
		for {
			select {
			case <-ctx.Done():
				return
			case <-c:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}

// Snapshot takes the monitoring picture. It reads only the hub's memory
// (the registry index and the backlog of waiting documents), so its cost
// grows with the agencies and the documents waiting, not with the store.
func (h *Hub) Snapshot(ctx context.Context) (Snapshot, error) {
	return h.snapshot(ctx, true)
}

// Summary is Snapshot without the agency lines (Agencies is nil): what
// metrics and the gRPC picture without lines need. Past the registry
// counts, its cost grows with the agencies that have documents waiting,
// not with the registry.
func (h *Hub) Summary(ctx context.Context) (Snapshot, error) {
	return h.snapshot(ctx, false)
}

func (h *Hub) snapshot(ctx context.Context, lines bool) (Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return Snapshot{}, err
	}
	now := h.cfg.Now()
	s := Snapshot{Time: now.UTC(), Overview: h.Overview(), Thresholds: AlertThresholds{UnackedAfter: h.cfg.UnackedAfter}}
	queues := h.backlog.summaries(now.Add(-h.cfg.UnackedAfter))
	var codes []string
	if lines {
		codes = h.sortedCodes()
	} else {
		// Only the agencies with documents waiting make alerts and totals;
		// in code order, as in the full snapshot, so ties sort alike.
		codes = make([]string, 0, len(queues))
		for code := range queues {
			codes = append(codes, code)
		}
		slices.Sort(codes)
	}
	s.Agencies = make([]AgencyStatus, 0, len(codes))
	h.mu.RLock()
	for _, code := range codes {
		e, ok := h.index[code]
		if !ok && !lines {
			continue // waiting for an agency no longer listed: the full snapshot has no line for it either
		}
		s.Agencies = append(s.Agencies, AgencyStatus{Code: code, Name: e.name, Stage: e.stage, Suspended: e.suspended})
	}
	h.mu.RUnlock()
	var offline []Alert
	h.traffic.mu.Lock()
	h.traffic.roll(now)
	s.DocumentsToday, s.DeliveredToday = h.traffic.docs, h.traffic.delivs
	for i := range s.Agencies {
		st := &s.Agencies[i]
		p := h.presence.get(st.Code)
		st.Online, st.Via, st.ConnectedSince, st.LastSeen, st.LastPolled = p.Online, p.Via, p.ConnectedSince, p.LastSeen, p.LastPolled
		st.SentToday, st.ReceivedToday = h.traffic.sent[st.Code], h.traffic.received[st.Code]
		if b, ok := queues[st.Code]; ok {
			st.Pending, st.OldestPending, st.OldestPendingDoc, st.Failures = b.n, b.oldest, b.oldestDoc, b.failures
			s.PendingDeliveries += b.n
			if s.OldestPending.IsZero() || b.oldest.Before(s.OldestPending) {
				s.OldestPending = b.oldest
			}
			// One alert per recipient with overdue documents, naming the
			// oldest and counting the rest: one per document would put
			// 100,000 alerts in every refresh when an agency's system has
			// been down for a day, and the snapshot would outgrow a gRPC
			// message.
			if b.overdue > 0 {
				s.Alerts = append(s.Alerts, Alert{
					Kind: AlertUnacknowledged, Agency: st.Code, Name: st.Name, Document: b.oldestDoc,
					Since: b.oldest, Count: b.overdue, Message: unackedMessage(b.overdue, h.cfg.UnackedAfter, now.Sub(b.oldest)),
				})
			}
			if b.failedDocs > 0 {
				s.Alerts = append(s.Alerts, Alert{
					Kind: AlertDeliveryFailures, Agency: st.Code, Name: st.Name, Document: b.failedDoc,
					Since: b.oldestFailed, Count: b.failedDocs, Failures: b.failures, LastFailure: b.lastFailure,
					Message: failuresMessage(b.failedDocs, b.failures, now.Sub(b.lastFailure)),
				})
			}
			if !p.Online {
				offline = append(offline, Alert{
					Kind: AlertOfflineBacklog, Agency: st.Code, Name: st.Name, Since: b.oldest, Count: b.n,
					Message: "offline while documents wait",
				})
			}
		}
	}
	h.traffic.mu.Unlock()
	s.Alerts = append(s.Alerts, offline...) // after the unacknowledged, as ties stay in the sort below
	if !s.OldestPending.IsZero() {
		s.OldestPendingAge = now.Sub(s.OldestPending).Seconds()
	}
	sort.SliceStable(s.Alerts, func(i, j int) bool { return s.Alerts[i].Since.Before(s.Alerts[j].Since) })
	s.PerMinute = h.traffic.lastHour(now)
	if s.Alerts == nil {
		s.Alerts = []Alert{}
	}
	if !lines {
		s.Agencies = nil
	}
	return s, nil
}

// unackedMessage describes an unacknowledged-documents alert.
func unackedMessage(n int, after, oldest time.Duration) string {
	age := oldest.Truncate(time.Second).String()
	if n == 1 {
		return "not acknowledged for " + age
	}
	return fmt.Sprintf("%d documents not acknowledged for over %s, the oldest for %s", n, after, age)
}

// failuresMessage describes a delivery-failures alert.
func failuresMessage(docs, reports int, last time.Duration) string {
	age := last.Truncate(time.Second).String()
	if docs == 1 {
		return fmt.Sprintf("the recipient could not take the document (%d failure reports, the last %s ago)", reports, age)
	}
	return fmt.Sprintf("the recipient could not take %d documents (%d failure reports, the last %s ago)", docs, reports, age)
}

// RecentDocuments returns the newest documents an agency sent or
// received, with every recipient's status, for the dashboard's drill-down.
func (h *Hub) RecentDocuments(ctx context.Context, code string, n int) ([]DocumentView, error) {
	if _, err := parseCode("code", code); err != nil {
		return nil, err
	}
	if n <= 0 || n > MaxDocPage {
		n = DefaultDocPage
	}
	admin := Principal{Admin: true, Name: "dashboard"}
	var ids []string
	err := h.st.View(ctx, func(tx store.Tx) error {
		if _, err := getAgency(tx, code); err != nil {
			return err
		}
		for _, b := range []store.Bucket{store.BucketSent, store.BucketInbox} {
			prefix := []byte(code + "\x00")
			k := 0
			if err := tx.ScanDesc(b, prefix, nil, func(key, _ []byte) (bool, error) {
				ids = append(ids, string(key[len(prefix):]))
				k++
				return k < n, nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	if len(ids) > n {
		ids = ids[:n]
	}
	out := make([]DocumentView, 0, len(ids))
	for _, id := range ids {
		v, err := h.Trace(ctx, admin, id)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// AgencyDocument returns a document that agency code sent or received,
// with every recipient's delivery: the dashboard's drill-down opens on
// the oldest document stuck at an agency, which its list of the newest
// may not reach. Any other document is NotFound.
func (h *Hub) AgencyDocument(ctx context.Context, code, id string) (DocumentView, error) {
	if _, err := parseCode("code", code); err != nil {
		return DocumentView{}, err
	}
	v, err := h.Trace(ctx, Principal{Admin: true, Name: "dashboard"}, id)
	if err != nil {
		return DocumentView{}, err
	}
	if v.Doc.Sender != code && !contains(v.Doc.Header.Recipients, code) {
		return DocumentView{}, notFoundDoc(id)
	}
	return v, nil
}

// Same reports whether two agency lines show the same thing (times
// compared as instants).
func (a AgencyStatus) Same(b AgencyStatus) bool {
	return a.Code == b.Code && a.Name == b.Name && a.Stage == b.Stage && a.Suspended == b.Suspended &&
		a.Online == b.Online && a.Via == b.Via && a.ConnectedSince.Equal(b.ConnectedSince) &&
		a.LastSeen.Equal(b.LastSeen) && a.LastPolled.Equal(b.LastPolled) && a.Pending == b.Pending &&
		a.OldestPending.Equal(b.OldestPending) && a.OldestPendingDoc == b.OldestPendingDoc &&
		a.Failures == b.Failures && a.SentToday == b.SentToday && a.ReceivedToday == b.ReceivedToday
}

// DiffAgencies returns what turns the agency lines prev into next: the
// lines of next that are new or differ, in next's order, and the codes of
// prev no longer in next. Consecutive snapshots list the same codes in the
// same order, which is compared line by line; from the first line where
// the codes part, the rest is matched by code.
func DiffAgencies(prev, next []AgencyStatus) (changed []AgencyStatus, removed []string) {
	i := 0
	for ; i < len(prev) && i < len(next) && prev[i].Code == next[i].Code; i++ {
		if !prev[i].Same(next[i]) {
			changed = append(changed, next[i])
		}
	}
	if i == len(prev) && i == len(next) {
		return changed, nil
	}
	rest := make(map[string]int, len(prev)-i)
	for j := i; j < len(prev); j++ {
		rest[prev[j].Code] = j
	}
	for _, a := range next[i:] {
		j, ok := rest[a.Code]
		if !ok || !prev[j].Same(a) {
			changed = append(changed, a)
		}
		delete(rest, a.Code)
	}
	for j := i; j < len(prev); j++ {
		if _, ok := rest[prev[j].Code]; ok {
			removed = append(removed, prev[j].Code)
		}
	}
	return changed, removed
}
