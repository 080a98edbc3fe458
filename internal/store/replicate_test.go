package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// logReplicator is a replicated log in one process for the store's own
// tests: Commit appends the record and hands it, in order, to every
// store following it, the committing one included (internal/cluster runs
// the real one, on Raft).
type logReplicator struct {
	mu      sync.Mutex
	leading bool
	stores  []*Bolt
}

func (l *logReplicator) Commit(lsn uint64, payload []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.leading {
		return ErrNotLeader
	}
	for _, s := range l.stores {
		s.Follow(lsn, payload)
	}
	return nil
}

func (l *logReplicator) Leading() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leading
}

func openReplicated(t *testing.T, rep Replicator) *Bolt {
	t.Helper()
	s, err := OpenBolt(filepath.Join(t.TempDir(), "ndxp.db"), Options{Replicator: rep})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestFollowAppliesRecordsInOrder: a follower sees the leader's writes and
// sequences once published, and refuses writes of its own; the leader
// skips its own records when they come back.
func TestFollowAppliesRecordsInOrder(t *testing.T) {
	lead := &logReplicator{leading: true}
	follow := &logReplicator{}
	l := openReplicated(t, lead)
	f := openReplicated(t, follow)
	lead.stores = []*Bolt{l, f}
	for i := range 20 {
		if err := l.Update(t.Context(), func(tx Tx) error {
			if _, err := tx.NextSequence(BucketQueue); err != nil {
				return err
			}
			return tx.Put(BucketMeta, []byte{byte('a' + i)}, []byte{byte(i)})
		}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := f.WaitPublished(ctx, l.Published()); err != nil {
		t.Fatal(err)
	}
	if l.Published() != 20 || f.Published() != 20 {
		t.Errorf("published: leader %d, follower %d; want 20 each", l.Published(), f.Published())
	}
	err := f.View(t.Context(), func(tx Tx) error {
		for i := range 20 {
			if v, err := tx.Get(BucketMeta, []byte{byte('a' + i)}); err != nil || v[0] != byte(i) {
				t.Errorf("key %c: %v, %v", 'a'+i, v, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Update(t.Context(), func(tx Tx) error { return tx.Put(BucketMeta, []byte("x"), nil) }); !errors.Is(err, ErrNotLeader) {
		t.Errorf("write on a follower: %v, want ErrNotLeader", err)
	}
	// The follower takes over: its sequence goes on from the leader's.
	follow.mu.Lock()
	follow.leading, follow.stores = true, []*Bolt{f}
	follow.mu.Unlock()
	var seq uint64
	if err := f.Update(t.Context(), func(tx Tx) error {
		var err error
		seq, err = tx.NextSequence(BucketQueue)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if seq != 21 {
		t.Errorf("next sequence on the new leader: %d, want 21", seq)
	}
}

// TestFollowRefusesAGap: a record that does not follow the last one is
// refused as corruption, and nothing after it is applied.
func TestFollowRefusesAGap(t *testing.T) {
	s := openReplicated(t, &logReplicator{})
	payload := encodeOps(nil, []op{{kind: opPut, b: BucketMeta, key: []byte("k"), val: []byte("v")}})
	s.Follow(1, payload)
	s.Follow(3, payload)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.WaitPublished(ctx, 3); !errors.Is(err, ErrCorrupt) {
		t.Errorf("after a gap: %v, want ErrCorrupt", err)
	}
	if s.Published() != 1 {
		t.Errorf("published %d, want 1", s.Published())
	}
}
