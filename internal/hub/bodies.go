package hub

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/ndxp/ndxp/internal/store"
)

// bodies is the hub's store of attachment body files: content-addressed
// files beside the database (store.Files), written by sends, read by
// fetches, backups and Check, removed by the retention purge. What lets
// them share the files lives here: a send's files are pending until its
// transaction ends, backups hold the files they copy, and the purge
// removes a body's file only after its record is gone, when no backup
// holds it and no send is reusing it.
type bodies struct {
	files *store.Files
	st    store.Store // to see whether a body's record is live
	// rep copies files to a cluster's other nodes; nil on a single hub.
	rep BodyReplicator

	// mu: backups hold it for reading (hold) while they copy files; the
	// purge takes it to remove files (flush).
	mu sync.RWMutex

	pendMu sync.Mutex
	// pending counts files placed by sends whose transaction has not
	// ended yet (commit, release).
	pending map[string]int
	// doomed lists bodies whose records are gone but whose files are not
	// removed yet (a backup held them past the end of a purge run).
	doomed []string
}

// BodyReplicator copies body files between the nodes of a cluster
// (docs/cluster.md): a body is on a majority of the nodes, fsynced, before
// the record naming it is proposed, and a node lacking one fetches it.
type BodyReplicator interface {
	// PushBody returns once the committed file sum is on a majority of
	// the nodes, or fails.
	PushBody(ctx context.Context, sum string) error
	// FetchBody places file sum here from another node, its digest
	// verified.
	FetchBody(ctx context.Context, sum string) error
	// RemoveBodies removes files from the other nodes, best effort.
	RemoveBodies(ctx context.Context, sums []string)
}

// fetchTimeout bounds the copy of a missing body from another node.
const fetchTimeout = 10 * time.Minute

// create starts a new body file.
func (b *bodies) create() (*store.FileWriter, error) { return b.files.Create() }

// open opens the file of a body. A cluster node that lacks it (it led
// no send of it, and was not among the majority that got it) fetches it.
func (b *bodies) open(sum string) (*os.File, error) {
	f, err := b.files.Open(sum)
	if err == nil || b.rep == nil || !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	if ferr := b.rep.FetchBody(ctx, sum); ferr != nil {
		return nil, fmt.Errorf("%w (and no other node of the cluster gave it: %v)", err, ferr)
	}
	return b.files.Open(sum)
}

// hold keeps the purge from removing body files until release is called.
// A backup calls it before it opens its snapshot transaction and releases
// it after copying the last file that transaction references: bodies the
// purge drops in between stay on disk until then. release may be called
// more than once.
func (b *bodies) hold() (release func()) {
	b.mu.RLock()
	var once sync.Once
	return func() { once.Do(b.mu.RUnlock) }
}

// commit places an uploaded body under its digest, pending until the
// send's transaction is over (release). Files are content-addressed and
// Commit reuses an identical file that exists already, so without this a
// purge could remove that file after the send decided to reuse it and
// before the send's transaction recreated the body's record: the new
// document would point at nothing.
func (b *bodies) commit(ctx context.Context, w *store.FileWriter) (string, error) {
	digest, err := w.Sum()
	if err != nil {
		return "", err
	}
	sum := hex.EncodeToString(digest)
	b.pendMu.Lock()
	if b.pending == nil {
		b.pending = map[string]int{}
	}
	b.pending[sum]++
	b.pendMu.Unlock()
	got, err := w.Commit()
	if err != nil {
		b.release(sum)
		return "", err
	}
	if b.rep != nil {
		if err := b.rep.PushBody(ctx, got); err != nil {
			b.release(sum)
			return "", newErr(ErrUnavailable, "", "the attachment could not be copied to a majority of the hub's nodes (%v); retry", err)
		}
	}
	return got, nil
}

// release ends the pending marks commit made.
func (b *bodies) release(sums ...string) {
	b.pendMu.Lock()
	defer b.pendMu.Unlock()
	for _, s := range sums {
		if b.pending[s]--; b.pending[s] <= 0 {
			delete(b.pending, s)
		}
	}
}

// releaseReceived ends the pending marks of a send's file bodies, once its
// transaction has committed or failed.
func (b *bodies) releaseReceived(rs []received) {
	for _, r := range rs {
		if r.file {
			b.release(r.sum)
		}
	}
}

// doom lists bodies whose records a purge transaction removed: their
// files go at the next flush.
func (b *bodies) doom(sums ...string) { b.doomed = append(b.doomed, sums...) }

func (b *bodies) doomedCount() int { return len(b.doomed) }

// flush deletes the files of doomed bodies. It runs after the purge's
// commits, so a crash in between leaves only unreferenced files, which the
// sweep at start removes. It waits for running backups (hold); if ctx ends
// first, the files stay doomed for the next run. Files a send has taken
// over again since are kept (remove). doom and flush are called by the
// purge run alone.
func (b *bodies) flush(ctx context.Context) (removed int, err error) {
	if len(b.doomed) == 0 {
		return 0, nil
	}
	if err := b.lock(ctx); err != nil {
		return 0, err
	}
	defer b.mu.Unlock()
	var again, gone []string
	var errs []error
	for _, sum := range b.doomed {
		ok, busy, err := b.remove(sum)
		switch {
		case err != nil:
			again = append(again, sum)
			errs = append(errs, err)
		case busy:
			// Seen again next run: kept if the send commits, removed if it fails.
			again = append(again, sum)
		case ok:
			removed++
			gone = append(gone, sum)
		}
	}
	b.doomed = again
	if b.rep != nil && len(gone) > 0 {
		b.rep.RemoveBodies(ctx, gone)
	}
	return removed, errors.Join(errs...)
}

// lock takes mu for writing unless ctx ends first. It polls because a
// backup may hold the read side for long, and neither a shutdown nor an
// impatient caller should wait for it.
func (b *bodies) lock(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !b.mu.TryLock() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// remove deletes the file of a body unless a send is reusing it (pending)
// or has already recreated its record: Files.Commit keeps an existing
// identical file, so either means the file is live again. Both checks and
// the removal happen under pendMu, so a send cannot start reusing the file
// in between.
func (b *bodies) remove(sum string) (removed, busy bool, err error) {
	b.pendMu.Lock()
	defer b.pendMu.Unlock()
	if b.pending[sum] > 0 {
		return false, true, nil
	}
	live, err := b.recorded(context.Background(), sum)
	if err != nil || live {
		return false, false, err
	}
	if err := b.files.Remove(sum); err != nil {
		return false, false, err
	}
	return true, false, nil
}

// recorded reports whether a record names the body sum.
func (b *bodies) recorded(ctx context.Context, sum string) (bool, error) {
	live := false
	err := b.st.View(ctx, func(tx store.Tx) error {
		_, err := tx.Get(store.BucketBlobs, []byte(sum))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		live = err == nil
		return err
	})
	return live, err
}

// gone reports whether the record of the body with this digest is gone,
// so a missing file is a purge that raced with a reader, not damage.
func (b *bodies) gone(ctx context.Context, sha []byte) bool {
	err := b.st.View(ctx, func(tx store.Tx) error {
		_, err := tx.Get(store.BucketBlobs, []byte(hex.EncodeToString(sha)))
		return err
	})
	return errors.Is(err, store.ErrNotFound)
}
