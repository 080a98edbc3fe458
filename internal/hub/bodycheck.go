package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ndxp/ndxp/internal/store"
)

// On a cluster node (Config.Bodies) the body files drift from the records:
// a node down while a body was pushed never gets it (the leader's
// background copies end when it does), and a send abandoned after its
// push, or a purge a node missed, leaves files no record names. Every node
// compares its files with its store now and then: it fetches the bodies it
// lacks from its peers, and removes the files no record names once they
// are old enough that no send can still be about to name them.
const (
	// The first check comes soon after a start, when a node that was down
	// has caught up with the log; the second a minute later, should it
	// have been slower.
	bodyCheckFirst  = 5 * time.Second
	bodyCheckSecond = time.Minute
	bodyCheckEvery  = 10 * time.Minute
	// bodyStaleAfter: a file no record names and untouched this long is
	// not a send's that is still under way (store.Files.SweepStale).
	bodyStaleAfter = time.Hour
)

// BodyCheck is what CheckBodies did.
type BodyCheck struct {
	Fetched, Removed int
	Missing          []string // bodies no peer could give
}

// CheckBodies fetches from the other nodes every body file a record names
// and this node lacks, then removes files no record names, last touched
// before staleBefore. It is for cluster nodes: without Config.Bodies it
// does nothing.
func (h *Hub) CheckBodies(ctx context.Context, staleBefore time.Time) (BodyCheck, error) {
	var c BodyCheck
	if h.bodies.rep == nil {
		return c, nil
	}
	var sums []string
	err := h.st.View(ctx, func(tx store.Tx) error {
		sums = sums[:0]
		return tx.Scan(store.BucketBlobs, nil, nil, func(k, v []byte) (bool, error) {
			var rec blobRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return false, fmt.Errorf("body record %s: %w", k, err)
			}
			if !rec.Inline {
				sums = append(sums, string(k))
			}
			return true, ctx.Err()
		})
	})
	if err != nil {
		return c, err
	}
	for _, sum := range sums {
		f, err := h.bodies.files.Open(sum)
		if err == nil {
			f.Close()
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			return c, err
		}
		if err := h.bodies.rep.FetchBody(ctx, sum); err != nil {
			if ctx.Err() != nil {
				return c, ctx.Err()
			}
			c.Missing = append(c.Missing, sum)
			continue
		}
		c.Fetched++
	}
	c.Removed, err = h.bodies.files.SweepStale(staleBefore, func(sum string) (bool, error) {
		h.bodies.pendMu.Lock()
		pending := h.bodies.pending[sum] > 0
		h.bodies.pendMu.Unlock()
		if pending {
			return true, nil
		}
		return h.bodies.recorded(ctx, sum)
	})
	return c, err
}

// startBodyCheck runs CheckBodies now and then on a cluster node, until
// Drain.
func (h *Hub) startBodyCheck(first, every time.Duration) {
	if h.bodies.rep == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.bodyCheck.cancel, h.bodyCheck.done = cancel, make(chan struct{})
	go func() {
		defer close(h.bodyCheck.done)
		t := time.NewTimer(first)
		defer t.Stop()
		for run := 1; ; run++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if run == 1 {
				t.Reset(bodyCheckSecond)
			} else {
				t.Reset(every)
			}
			c, err := h.CheckBodies(ctx, h.cfg.Now().Add(-bodyStaleAfter))
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				h.log.Error("checking the attachment files against the records failed; retrying at the next run", "err", err, "next_run", every)
			case len(c.Missing) > 0:
				h.log.Error("attachment files no node could give; run ndxpctl check", "count", len(c.Missing), "first", c.Missing[0])
			}
			if c.Fetched > 0 || c.Removed > 0 {
				h.log.Info("attachment files checked against the records", "fetched", c.Fetched, "removed_unreferenced", c.Removed)
			}
		}
	}()
}

func (h *Hub) stopBodyCheck() {
	if h.bodyCheck.cancel != nil {
		h.bodyCheck.cancel()
		<-h.bodyCheck.done
	}
}
