package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/ndxp/ndxp/internal/store"
)

// A snapshot of a node's store is a header, then a copy of its bbolt file
// (store.Bolt.Snapshot), taken once the file holds every record up to the
// header's: the magic and the record number (LSN) it holds at least.
var snapshotMagic = []byte("ndxpsnp1")

// snapshotsKept is how many snapshots the node keeps on disk.
const snapshotsKept = 2

func snapshotHeader(lsn uint64) []byte {
	return binary.BigEndian.AppendUint64(bytes.Clone(snapshotMagic), lsn)
}

func readSnapshotHeader(r io.Reader) (uint64, error) {
	var h [16]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, fmt.Errorf("cluster: snapshot header: %w", err)
	}
	if !bytes.Equal(h[:8], snapshotMagic) {
		return 0, errors.New("cluster: the snapshot is not a copy of an ndxp store of this version")
	}
	return binary.BigEndian.Uint64(h[8:]), nil
}

// installSnapshot replaces the store with the newest snapshot the node
// holds when the snapshot is ahead of it: one a leader sent to this node
// because it was too far behind (fsm.Restore), which the library keeps
// before it asks the state machine to load it. The library then replays
// the log from the snapshot's entry on (NoSnapshotRestoreOnStart), so the
// store must hold everything up to it before Raft starts.
func (n *Node) installSnapshot(st *store.Bolt, open func(store.Replicator) (*store.Bolt, error)) (*store.Bolt, error) {
	snaps, err := raft.NewFileSnapshotStoreWithLogger(n.cfg.Dir, snapshotsKept, hclog.NewNullLogger())
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("raft snapshots: %w", err)
	}
	metas, err := snaps.List()
	if err != nil || len(metas) == 0 {
		return st, err
	}
	_, rc, err := snaps.Open(metas[0].ID)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("raft snapshot %s: %w", metas[0].ID, err)
	}
	defer rc.Close()
	lsn, err := readSnapshotHeader(rc)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("raft snapshot %s: %w", metas[0].ID, err)
	}
	have := st.Published()
	if lsn <= have {
		return st, nil
	}
	path := st.Path()
	if err := st.Close(); err != nil {
		return nil, err
	}
	if err := replaceFile(path, rc); err != nil {
		return nil, fmt.Errorf("install the leader's snapshot %s: %w", metas[0].ID, err)
	}
	n.logger().Warn("installed the leader's snapshot of the store", "snapshot", metas[0].ID, "had_record", have, "snapshot_record", lsn)
	return open(n)
}

// replaceFile writes r to path through a temporary file, fsynced and
// renamed into place, so a crash leaves the old file or the new one.
func replaceFile(path string, r io.Reader) error {
	tmp := path + ".install"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
