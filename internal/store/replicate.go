package store

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"
)

// A Bolt opened with Options.Replicator is one node's copy of a replicated
// store (docs/cluster.md): its commits go to a replicated log instead of
// its own write-ahead log, and every node applies every committed record in
// log order.
//
// On the leader, Update runs as on a single node, and Replicator.Commit
// takes the place of the log's fdatasync: it returns once a majority of the
// nodes hold the record durably. Every node, the leader included, then
// receives each committed record through Follow, in log order; the leader
// skips its own, which it has published already, and the others apply them
// to their overlay, and from there to their file, as the committer does
// with its own. Records carry the store's own numbers (LSN), which follow
// the log's order but not its indexes: a log has entries of its own.

// Replicator is a replicated log the committer commits through.
type Replicator interface {
	// Commit returns once record lsn, whose payload encodes a group
	// commit's writes, is durable on a majority of the nodes, or fails: with
	// ErrNotLeader when this node may not commit, the outcome then unknown
	// (the record may still be committed by a later leader; the callers'
	// writes are idempotent or retried with the same key).
	Commit(lsn uint64, payload []byte) error
	// Leading reports whether this node may commit now, so that a follower
	// refuses an Update before running it.
	Leading() bool
}

// ErrNotLeader: this node of a replicated store cannot commit; the leader
// can (the hub answers UNAVAILABLE naming it).
var ErrNotLeader = errors.New("store: not the leader of the cluster")

// follower is the committer's queue of committed records to apply. Follow
// adds to it without waiting (it is called by the log's apply loop, which
// the committer itself may be waiting on in Commit); the committer drains
// it between batches.
type follower struct {
	mu    sync.Mutex
	recs  []followRec
	sig   chan struct{} // cap 1: records are waiting
	pubMu sync.Mutex
	pub   uint64        // last LSN published (committed or followed)
	pubCh chan struct{} // closed and replaced when pub grows
	err   error         // a record could not be followed: the store stops writing
}

type followRec struct {
	lsn     uint64
	payload []byte
}

func newFollower(published uint64) *follower {
	return &follower{sig: make(chan struct{}, 1), pub: published, pubCh: make(chan struct{})}
}

func (f *follower) add(r followRec) {
	f.mu.Lock()
	f.recs = append(f.recs, r)
	f.mu.Unlock()
	select {
	case f.sig <- struct{}{}:
	default:
	}
}

func (f *follower) take() []followRec {
	f.mu.Lock()
	defer f.mu.Unlock()
	recs := f.recs
	f.recs = nil
	return recs
}

func (f *follower) published(lsn uint64) {
	f.pubMu.Lock()
	if lsn > f.pub {
		f.pub = lsn
		close(f.pubCh)
		f.pubCh = make(chan struct{})
	}
	f.pubMu.Unlock()
}

// Follow hands the store a record its cluster committed, in log order. A
// record already published (this node committed it) is skipped. It does
// not wait for the record to be applied: WaitPublished does.
func (s *Bolt) Follow(lsn uint64, payload []byte) {
	s.commit.follow.add(followRec{lsn: lsn, payload: payload})
}

// Published returns the LSN of the last record visible to reads here:
// committed by this node or followed.
func (s *Bolt) Published() uint64 {
	f := s.commit.follow
	f.pubMu.Lock()
	defer f.pubMu.Unlock()
	return f.pub
}

// FollowErr returns why the store stopped applying the cluster's records
// (a gap, an undecodable record), nil while it follows.
func (s *Bolt) FollowErr() error {
	f := s.commit.follow
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// WaitPublished waits until record lsn is visible to reads here.
func (s *Bolt) WaitPublished(ctx context.Context, lsn uint64) error {
	f := s.commit.follow
	for {
		f.pubMu.Lock()
		pub, ch := f.pub, f.pubCh
		f.pubMu.Unlock()
		if pub >= lsn {
			return nil
		}
		f.mu.Lock()
		err := f.err
		f.mu.Unlock()
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond): // f.err has no channel of its own
		}
	}
}

// Flush waits until every published record is in the file, so that a
// copy of the file holds them.
func (s *Bolt) Flush(ctx context.Context) error { return s.apply.flush(ctx) }

// drainFollows applies the committed records waiting, in order, skipping
// those this node committed itself.
func (c *committer) drainFollows() {
	recs := c.follow.take()
	if len(recs) == 0 {
		return
	}
	start := time.Now()
	changed := false
	// What was applied before a bad record is published all the same.
	defer func() {
		if changed {
			c.reads.publish(c.w.clone())
			c.follow.published(c.lsn)
		}
	}()
	for _, r := range recs {
		if r.lsn <= c.lsn {
			continue // committed here, or applied already
		}
		if r.lsn != c.lsn+1 {
			c.followFailed(fmtGap(c.lsn, r.lsn))
			return
		}
		ops, err := decodeOps(r.payload)
		if err != nil {
			c.followFailed(err)
			return
		}
		size := 0
		for _, o := range ops {
			switch o.kind {
			case opSeq:
				c.seqs[o.b] = max(c.seqs[o.b], o.seq)
			case opPut, opDel:
				e := entry{key: o.key, val: o.val, del: o.kind == opDel, lsn: r.lsn}
				if !e.del && e.val == nil {
					e.val = []byte{}
				}
				c.w.tree(o.b, true).ReplaceOrInsert(e)
			}
			size += len(o.key) + len(o.val) + 64
		}
		c.lsn = r.lsn
		c.unapplied += size
		c.apply.enqueue(&applyRec{lsn: r.lsn, ops: ops, bytes: size, at: start})
		changed = true
	}
}

func (c *committer) followFailed(err error) {
	c.follow.mu.Lock()
	if c.follow.err == nil {
		c.follow.err = err
	}
	c.follow.mu.Unlock()
}

type gapError struct{ have, got uint64 }

func (e gapError) Error() string {
	return "store: replicated record " + itoa(e.got) + " follows record " + itoa(e.have) + ": records are missing"
}

func (e gapError) Unwrap() error { return ErrCorrupt }

func fmtGap(have, got uint64) error { return gapError{have, got} }

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// replicate commits the batch's record through the replicator instead of
// the log. The payload is copied: the log keeps it after Commit returns.
func (c *committer) replicate(lsn uint64) error {
	if err := c.follow.failure(); err != nil {
		return err
	}
	return c.rep.Commit(lsn, bytes.Clone(c.buf))
}

func (f *follower) failure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
