package hub

import (
	"context"
	"fmt"
	"time"
)

// A cluster node's hub (Config.Standby) starts without its in-memory
// state: its store is a copy that follows the leader's, and only the
// leader's hub serves (docs/cluster.md). Lead loads the state when the node
// starts leading, after every record committed before is in its store;
// StepDown ends what the node was serving when it stops.

// errSteppedDown ends the subscriptions of a node that stopped leading:
// the SDK reconnects, to the new leader.
var errSteppedDown = &Error{Kind: ErrUnavailable, Msg: "this hub node stopped leading its cluster; reconnect (the SDK finds the new leader)"}

// Lead makes the hub serve: it brings the records' layout up to date and
// rebuilds the in-memory state from the store (registry index, aliases,
// VXP systems, revoked credentials, presence, backlog, daily counts), then
// starts the retention purge. The caller routes no calls to the hub until
// it returns.
func (h *Hub) Lead(ctx context.Context) error {
	h.termMu.Lock()
	defer h.termMu.Unlock()
	moved, err := migrate(ctx, h.st.Store)
	if err != nil {
		return fmt.Errorf("migrate the records: %w", err)
	}
	if moved > 0 {
		h.log.Info("small attachment bodies moved beside their documents", "count", moved)
	}
	h.regMu.Lock()
	h.mu.Lock()
	h.index = map[string]indexEntry{}
	h.codes = nil
	h.aliases = map[string]string{}
	h.vxp = map[string]vxpEntry{}
	h.revoked = map[string]bool{}
	h.traffic.reset()
	err = h.load(ctx, h.st.Store)
	n := len(h.index)
	h.mu.Unlock()
	h.regMu.Unlock()
	if err != nil {
		return err
	}
	// What this node pushed or cached in an earlier term may have changed
	// under other leaders since.
	h.recent.clear()
	h.deliv.forgetPushed()
	h.startRetention(retentionFirstRun, retentionEvery)
	h.log.Info("leading: hub state loaded", "agencies", n)
	return nil
}

// StepDown ends the node's service when it stops leading: subscriptions
// end with "reconnect" and the retention purge stops. Calls in flight fail
// at their commit, which the store refuses (store.ErrNotLeader).
func (h *Hub) StepDown() {
	h.termMu.Lock()
	defer h.termMu.Unlock()
	h.stopRetention()
	h.deliv.endAll(errSteppedDown)
	h.log.Info("no longer leading: subscriptions ended")
}

// endAll ends every open subscription with err.
func (d *deliverer) endAll(err error) {
	d.mu.Lock()
	sessions := make([]*session, 0, len(d.sessions))
	for _, s := range d.sessions {
		sessions = append(sessions, s)
	}
	d.mu.Unlock()
	for _, s := range sessions {
		s.cancel(err)
	}
}

// forgetPushed drops the record of what was pushed in an earlier term.
func (d *deliverer) forgetPushed() {
	d.mu.Lock()
	d.pushed = map[string]uint64{}
	d.mu.Unlock()
}

// clear forgets every document.
func (r *recentDocs) clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byID = map[string]*recentDoc{}
	r.order = nil
	r.bytes = 0
}

// reset forgets the counts, before they are counted again from the store.
func (t *traffic) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.day, t.docs, t.delivs = time.Time{}, 0, 0 // the next roll sets the day
	t.sent, t.received = map[string]int{}, map[string]int{}
	t.minutes = [60]MinuteCount{}
}

// replace takes the contents of a backlog loaded from the store.
func (b *backlog) replace(from *backlog) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending, b.early = from.pending, from.early
	b.bySender, b.byRecipient = from.bySender, from.byRecipient
}
