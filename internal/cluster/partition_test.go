package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/store"
)

// isolate cuts m off from the others, both ways, or heals it (on false).
func isolate(ms []*member, m *member, on bool) {
	var others []string
	for _, o := range ms {
		if o == m || o.node == nil {
			continue
		}
		others = append(others, o.cfg.Bind)
		if on {
			o.node.port.partition([]string{m.cfg.Bind})
		} else {
			o.node.port.partition(nil)
		}
	}
	if !on {
		others = nil
	}
	m.node.port.partition(others)
}

// TestPartitionedLeader: a leader cut off from the others (a network
// partition) commits nothing more; its writes fail rather than hang, the
// majority side elects a leader that accepts writes, and once the
// partition heals the old leader follows it, holding what the majority
// committed and none of the writes it refused.
func TestPartitionedLeader(t *testing.T) {
	ms := startCluster(t, 3)
	old := leader(t, ms)
	putMany(t, old.st, "before", 10)
	isolate(ms, old, true)

	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	refused := 0
	for i := range 5 {
		err := put(ctx, old.st, fmt.Sprintf("minority-%03d", i))
		if err == nil {
			t.Fatalf("the cut-off leader committed write %d", i)
		}
		if !errors.Is(err, store.ErrNotLeader) {
			t.Fatalf("the cut-off leader's write %d: %v, want ErrNotLeader", i, err)
		}
		refused++
	}
	var majority []*member
	for _, m := range ms {
		if m != old {
			majority = append(majority, m)
		}
	}
	lead := leader(t, majority)
	putMany(t, lead.st, "after", 10)
	if old.node.Leading() {
		t.Error("the cut-off node still says it leads")
	}

	isolate(ms, old, false)
	lsn := lead.st.Published()
	has(t, old, lsn, "before", 10)
	has(t, old, lsn, "after", 10)
	for _, m := range ms {
		err := m.st.View(t.Context(), func(tx store.Tx) error {
			for i := range refused {
				if _, err := tx.Get(store.BucketMeta, []byte(fmt.Sprintf("minority-%03d", i))); !errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("the refused write minority-%03d is there (%v)", i, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", m.cfg.ID, err)
		}
	}
}
