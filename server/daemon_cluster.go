package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ndxp/ndxp/internal/cluster"
	"github.com/ndxp/ndxp/internal/pki"
	"github.com/ndxp/ndxp/internal/store"
)

// RaftDir holds a cluster node's Raft log, stable state and snapshots,
// inside its data directory.
const RaftDir = "raft"

// openClusterStore opens the node's store as its copy of the cluster's
// replicated store and starts Raft: a new cluster bootstraps from the
// peers, a node with state rejoins, and a joining node without state waits
// to be added (docs/cluster.md).
func (d *Daemon) openClusterStore(cfg Config, ca *pki.CA, files *store.Files, opts store.Options) error {
	certPEM, err := os.ReadFile(cfg.NodeCert)
	if err != nil {
		return fmt.Errorf("node_cert: %w", err)
	}
	keyPEM, err := os.ReadFile(cfg.NodeKey)
	if err != nil {
		return fmt.Errorf("node_key: %w", err)
	}
	srvTLS, cliTLS, err := pki.NodeTLS(ca.Pool(), certPEM, keyPEM)
	if err != nil {
		return err
	}
	ccfg := cluster.Config{
		ID:        cfg.NodeID,
		Dir:       filepath.Join(cfg.DataDir, RaftDir),
		Bind:      cfg.RaftListen,
		Logger:    d.log,
		ServerTLS: srvTLS,
		ClientTLS: cliTLS,
		OnLeading: d.onLeading,
		OnInstall: d.onInstall,
		OnStoreFailed: func(err error) {
			err = fmt.Errorf("this node's store stopped following the cluster: %w "+
				"(a node added to a cluster seeded from a backup needs that backup restored into its data directory first; docs/cluster.md)", err)
			d.log.Error("stopping", "err", err)
			select {
			case d.errc <- err:
			default:
			}
		},
		Files: files,
		Join:  cfg.Join,
	}
	for _, p := range cfg.Peers {
		ccfg.Peers = append(ccfg.Peers, cluster.Peer{ID: p.ID, Raft: p.Raft, GRPC: p.GRPC})
		if p.ID == cfg.NodeID {
			// Peers dial the address the cluster lists, which may differ
			// from the one listened on (0.0.0.0).
			ccfg.Advertise = p.Raft
		}
	}
	d.node, d.store, err = cluster.New(ccfg, func(rep store.Replicator) (*store.Bolt, error) {
		opts.Replicator = rep
		return store.OpenBolt(filepath.Join(cfg.DataDir, StoreFile), opts)
	})
	return err
}

// clusterAddresses is the list written into credentials a cluster node
// issues: this node first, then the other members, so that clients fail
// over; the peers of its configuration until the members are known.
func (d *Daemon) clusterAddresses(advertise string) string {
	addrs := []string{advertise}
	if ms, err := d.node.Members(); err == nil && len(ms) > 0 {
		for _, m := range ms {
			if m.ID != d.cfg.NodeID && m.GRPC != "" {
				addrs = append(addrs, m.GRPC)
			}
		}
		return strings.Join(addrs, ",")
	}
	for _, p := range d.cfg.Peers {
		if p.ID != d.cfg.NodeID && p.GRPC != "" {
			addrs = append(addrs, p.GRPC)
		}
	}
	return strings.Join(addrs, ",")
}

// onLeading is the node's report of a change of leadership: the hub
// loads its state before calls reach it, and stops serving when the node
// stops leading. Reports come one at a time, in order.
func (d *Daemon) onLeading(lead bool) {
	select {
	case <-d.hubReady:
	case <-d.closing:
		return
	}
	if !lead {
		d.leading.Store(false)
		d.hub.StepDown()
		d.log.Warn("this node no longer leads the cluster")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	if err := d.hub.Lead(ctx); err != nil {
		// A leader that cannot serve hands the leadership on.
		d.log.Error("could not load the hub's state as leader; handing leadership over", "err", err)
		d.node.TransferLeadership()
		return
	}
	d.leading.Store(true)
	d.log.Info("this node leads the cluster", "node", d.cfg.NodeID, "took", time.Since(start).Round(time.Millisecond))
}

// gate reports whether this daemon serves the exchange now: always on a
// single node, only while leading on a cluster's; otherwise the leader's
// gRPC address when known.
func (d *Daemon) gate() (ok bool, leaderGRPC string) {
	if d.node == nil || d.leading.Load() {
		return true, ""
	}
	return false, d.leaderGRPC()
}

// leaderGRPC is the leader's gRPC address, or "" when no leader is known.
func (d *Daemon) leaderGRPC() string {
	id, _ := d.node.Leader()
	if id == "" || id == d.cfg.NodeID {
		return ""
	}
	return d.node.GRPCOf(id)
}

// onInstall: the node fell behind the leader's log and keeps the leader's
// snapshot of the store, which it installs when it starts again. ndxpd
// stops with an error saying so; its supervisor (systemd) starts it again.
func (d *Daemon) onInstall() {
	err := errors.New("this node fell behind the cluster's log and received the leader's snapshot of the store: " +
		"start ndxpd again to install it (a supervisor such as systemd does this by itself)")
	d.log.Error("stopping to install the leader's snapshot", "err", err)
	select {
	case d.errc <- err:
	default:
	}
}
