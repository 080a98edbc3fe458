// Package hub is the domain core of ndxp: the agency registry, identities,
// presence and (with the exchange) routing, delivery and the status
// workflow. It knows neither gRPC nor bbolt: it speaks to storage through
// internal/store and is driven by server/.
package hub

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/ndxp/ndxp/internal/pki"
	"github.com/ndxp/ndxp/internal/store"
)

// Config wires a Hub. Use DefaultConfig and change what you need.
type Config struct {
	// CA signs agency credentials; nil or a trust-only CA means the hub
	// cannot issue credentials (an external CA does).
	CA *pki.CA
	// HubAddress is the gRPC address written into issued credentials.
	HubAddress string
	// HubAddresses, when set, gives that address at the time of issue
	// instead: a cluster's members, which change (comma-separated).
	HubAddresses func() string
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Now returns the current time; tests may fix it.
	Now func() time.Time
	// DefaultCredentialDays is the lifetime of an issued credential when
	// the request names none.
	DefaultCredentialDays int
	// AckDeadline is how long a pushed event waits for its acknowledgement
	// before it is pushed again.
	AckDeadline time.Duration
	// InlineLimit is the largest attachment kept inside the database (in
	// the send's own transaction); larger ones go to files beside it.
	InlineLimit int64
	// MaxAttachmentSize bounds one attachment.
	MaxAttachmentSize int64
	// UnackedAfter: a document that waits longer than this for its
	// recipient's acknowledgement raises an alert.
	UnackedAfter time.Duration
	// PollWindow: an agency that polls (the VXP HTTP API, Polled) counts
	// as online for this long after each poll.
	PollWindow time.Duration
	// Location is the time zone of "today" in the daily counts.
	Location *time.Location
	// RetentionDays: when positive, the hub purges every hour the
	// attachment bodies of completed documents older than this many days
	// (retention.go); 0 keeps them forever.
	RetentionDays int
	// Limits bound what one caller may hold of the hub (limits.go).
	Limits Limits
	// PacketRequireValidSignature refuses edXML packets whose XML-DSig
	// is not valid; by default a packet's signature is checked and
	// recorded, never a reason to refuse it (docs/edxml.md).
	PacketRequireValidSignature bool
	// PacketTrust, when set, decides whether a packet's signer is trusted.
	PacketTrust *x509.CertPool
	// PacketSignatureMax is the largest packet whose signature is checked
	// (the check holds the packet in memory); larger ones are recorded as
	// unverifiable. 0 means 64 MiB.
	PacketSignatureMax int64
	// Standby starts the hub of a cluster node without loading its state:
	// Lead loads it when the node leads, StepDown ends its service when it
	// stops (leader.go).
	Standby bool
	// Bodies copies attachment files between a cluster's nodes; nil on a
	// single hub.
	Bodies BodyReplicator
}

// DefaultConfig returns a Config with the defaults filled in.
func DefaultConfig() Config {
	return Config{
		Now:                   time.Now,
		DefaultCredentialDays: 365,
		AckDeadline:           30 * time.Second,
		InlineLimit:           64 << 10,
		MaxAttachmentSize:     4 << 30,
		UnackedAfter:          15 * time.Minute,
		PollWindow:            DefaultPollWindow,
		Location:              time.Local,
		Limits:                DefaultLimits(),
	}
}

// Validate reports a Config that cannot work.
func (c Config) Validate() error {
	if c.Now == nil {
		return errors.New("hub config: Now is nil")
	}
	if c.DefaultCredentialDays <= 0 || c.DefaultCredentialDays > MaxCredentialDays {
		return fmt.Errorf("hub config: DefaultCredentialDays %d out of 1..%d", c.DefaultCredentialDays, MaxCredentialDays)
	}
	if c.AckDeadline < MinAckDeadline || c.AckDeadline > MaxAckDeadline {
		return fmt.Errorf("hub config: AckDeadline %s out of %s..%s", c.AckDeadline, MinAckDeadline, MaxAckDeadline)
	}
	if c.InlineLimit < 0 || c.InlineLimit > 1<<20 {
		return fmt.Errorf("hub config: InlineLimit %d out of 0..1MiB", c.InlineLimit)
	}
	if c.UnackedAfter <= 0 {
		return errors.New("hub config: UnackedAfter must be positive")
	}
	if c.PollWindow <= 0 {
		return errors.New("hub config: PollWindow must be positive")
	}
	if c.Location == nil {
		return errors.New("hub config: Location is nil")
	}
	if c.MaxAttachmentSize <= 0 {
		return errors.New("hub config: MaxAttachmentSize must be positive")
	}
	if c.RetentionDays < 0 || c.RetentionDays > MaxRetentionDays {
		return fmt.Errorf("hub config: RetentionDays %d out of 0..%d", c.RetentionDays, MaxRetentionDays)
	}
	return c.Limits.validate()
}

// Hub is the running core. It is safe for concurrent use.
type Hub struct {
	st     boundary
	bodies *bodies // attachment body files and what sends, backups and the purge share of them
	cfg    Config
	log    *slog.Logger
	ids    *idSource
	deliv  *deliverer
	recent *recentDocs // documents just sent, for their pushes
	// backlog is the documents waiting for their recipients (backlog.go).
	backlog *backlog

	// Metrics counts what the hub did since it started.
	metrics *Metrics
	traffic *traffic
	watch   watchers

	drain     chan struct{} // closed by Drain
	drainOnce sync.Once

	// regMu serializes registry writes so the in-memory index below always
	// follows the committed store in commit order.
	regMu sync.Mutex
	// mu guards the in-memory state rebuilt from the store at start.
	mu      sync.RWMutex
	index   map[string]indexEntry // code -> what authorization and counts need
	codes   []string              // index's codes in order, or nil after a code was added (see sortedCodes)
	aliases map[string]string     // alias -> registered code (alias.go)
	vxp     map[string]vxpEntry   // VXP system id -> system and secret (vxp_systems.go)
	revoked map[string]bool       // credential serials revoked

	presence *presence
	grants   grants  // open streams, ended by revocation and suspension (limits.go)
	senders  senders // each sender's send rate (limits.go)

	ret retention // the retention purge (retention.go)

	termMu sync.Mutex // serializes Lead and StepDown (leader.go)

	bodyCheck struct { // the periodic CheckBodies of a cluster node (bodycheck.go)
		cancel context.CancelFunc
		done   chan struct{}
	}
}

type indexEntry struct {
	name      string // shown with the documents the agency sends
	stage     Stage
	suspended bool
}

// New starts a hub on an open store and rebuilds its in-memory state from it.
func New(ctx context.Context, st store.Store, files *store.Files, cfg Config) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h := &Hub{
		st:       boundary{Store: st, log: log},
		cfg:      cfg,
		log:      log,
		ids:      newIDSource(),
		deliv:    newDeliverer(),
		recent:   newRecentDocs(recentMaxBytes, recentMaxDocs),
		metrics:  &Metrics{},
		traffic:  newTraffic(cfg.Location, cfg.Now),
		drain:    make(chan struct{}),
		index:    map[string]indexEntry{},
		aliases:  map[string]string{},
		vxp:      map[string]vxpEntry{},
		revoked:  map[string]bool{},
		presence: newPresence(cfg.Now, cfg.PollWindow),
		backlog:  newBacklog(),
	}
	h.bodies = &bodies{files: files, st: h.st, rep: cfg.Bodies}
	h.presence.onChange = h.watch.notify
	h.presence.onOffline = h.saveLastSeen
	// Every node of a cluster keeps its files in step with its records.
	h.startBodyCheck(bodyCheckFirst, bodyCheckEvery)
	if cfg.Standby {
		// A follower's store may not be written, and holds what the leader
		// committed: nothing to migrate or load until it leads; its files
		// are swept by the body check, not at start.
		log.Info("hub on standby until this node leads its cluster")
		return h, nil
	}
	moved, err := migrate(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("migrate the records: %w", err)
	}
	if moved > 0 {
		log.Info("small attachment bodies moved beside their documents", "count", moved)
	}
	if err := h.load(ctx, st); err != nil {
		return nil, err
	}
	// Attachment files written for sends that never committed (a crash
	// between the file and the transaction) are not referenced: drop them.
	removed, err := files.Sweep(func(sum string) (bool, error) { return h.bodies.recorded(ctx, sum) })
	if err != nil {
		return nil, fmt.Errorf("sweep attachment files: %w", err)
	}
	log.Info("hub state loaded", "agencies", len(h.index), "aliases", len(h.aliases), "vxp_systems", len(h.vxp), "revoked_credentials", len(h.revoked), "orphan_files_removed", removed)
	h.startRetention(retentionFirstRun, retentionEvery)
	return h, nil
}

// load rebuilds the in-memory state from the store: the registry index,
// the aliases, the VXP systems, the revoked serials, last-seen times, the backlog and the day's counts.
func (h *Hub) load(ctx context.Context, st store.Store) error {
	err := st.View(ctx, func(tx store.Tx) error {
		if err := tx.Scan(store.BucketAgencies, nil, nil, func(_, v []byte) (bool, error) {
			var a Agency
			if err := json.Unmarshal(v, &a); err != nil {
				return false, fmt.Errorf("decode agency: %w", err)
			}
			h.index[a.Code] = indexEntry{name: a.Name, stage: a.Stage, suspended: a.Suspended}
			return true, nil
		}); err != nil {
			return err
		}
		if err := tx.Scan(store.BucketAliases, nil, nil, func(k, v []byte) (bool, error) {
			var al Alias
			if err := json.Unmarshal(v, &al); err != nil {
				return false, fmt.Errorf("decode alias %q: %w", k, err)
			}
			h.aliases[string(k)] = al.Code
			return true, nil
		}); err != nil {
			return err
		}
		if err := h.loadVxpSystems(tx); err != nil {
			return err
		}
		return tx.Scan(store.BucketCredentials, nil, nil, func(_, v []byte) (bool, error) {
			var c credential
			if err := json.Unmarshal(v, &c); err != nil {
				return false, fmt.Errorf("decode credential: %w", err)
			}
			if c.Revoked != nil {
				h.revoked[c.Serial] = true
			}
			return true, nil
		})
	})
	if err != nil {
		return fmt.Errorf("load hub state: %w", err)
	}
	seen := map[string]time.Time{}
	if err := st.View(ctx, func(tx store.Tx) error {
		return tx.Scan(store.BucketPresence, nil, nil, func(k, v []byte) (bool, error) {
			if t, err := time.Parse(time.RFC3339Nano, string(v)); err == nil {
				seen[string(k)] = t
			}
			return true, nil
		})
	}); err != nil {
		return fmt.Errorf("load presence: %w", err)
	}
	h.presence.restore(seen)
	b, badEvents, err := loadBacklog(ctx, st)
	if err != nil {
		return fmt.Errorf("load queues: %w", err)
	}
	h.backlog.replace(b)
	if badEvents > 0 {
		h.log.Warn("unreadable queue entries skipped; run ndxpctl check", "count", badEvents)
	}
	if err := h.loadTraffic(ctx); err != nil {
		return fmt.Errorf("load traffic counts: %w", err)
	}
	return nil
}

// saveLastSeen records when an agency went offline, so that operators
// still see it after a restart. It is best effort: presence is advisory.
func (h *Hub) saveLastSeen(code string, t time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.st.Update(ctx, func(tx store.Tx) error {
		return tx.Put(store.BucketPresence, []byte(code), []byte(t.UTC().Format(time.RFC3339Nano)))
	})
	if err != nil && !errors.Is(err, ErrUnavailable) { // shutting down, or no longer leading
		h.log.Warn("could not record last seen", "code", code, "err", err)
	}
}

// Drain ends every subscription with "reconnect" and refuses new sends,
// ahead of a shutdown. Sends already receiving attachments finish.
func (h *Hub) Drain() {
	h.drainOnce.Do(func() { close(h.drain) })
	h.stopBodyCheck()
	h.termMu.Lock()
	h.stopRetention()
	h.termMu.Unlock()
	h.presence.close()
}

// Drained is closed once Drain is called: long streams end on it.
func (h *Hub) Drained() <-chan struct{} { return h.drain }

func (h *Hub) draining() error {
	select {
	case <-h.drain:
		return newErr(ErrUnavailable, "", "the hub is shutting down; retry shortly")
	default:
		return nil
	}
}

// storeErr turns storage failures, of the store or of body files, into
// what the caller should know (boundary.err).
func (h *Hub) storeErr(err error) error { return h.st.err(err) }

// err turns a storage failure into what the caller should know: a full
// disk is ResourceExhausted (and logged), a closed store Unavailable.
func (b boundary) err(err error) error {
	switch {
	case err == nil:
		return nil
	case store.IsFull(err):
		b.log.Error("storage is full", "err", err)
		return newErr(ErrExhausted, "", "the hub's storage is full; the document was not stored, retry later")
	case errors.Is(err, store.ErrClosed):
		return newErr(ErrUnavailable, "", "the hub is shutting down; retry shortly")
	case errors.Is(err, store.ErrNotLeader):
		return newErr(ErrUnavailable, "", "this hub node is not the leader of its cluster; retry (the SDK finds the leader)")
	}
	return err
}

// boundary is the store as the hub's callers see its failures: a closed
// store is the hub shutting down, a full disk ResourceExhausted (storeErr),
// so that no error kind of the store leaves the hub and server/ maps hub
// errors only.
type boundary struct {
	store.Store
	log *slog.Logger
}

func (b boundary) View(ctx context.Context, fn func(store.Tx) error) error {
	return b.err(b.Store.View(ctx, fn))
}

func (b boundary) Update(ctx context.Context, fn func(store.Tx) error) error {
	return b.err(b.Store.Update(ctx, fn))
}

func (b boundary) Snapshot(ctx context.Context, fn func(tx store.Tx, size int64, write func(w io.Writer) (int64, error)) error) error {
	return b.err(b.Store.Snapshot(ctx, fn))
}

// Metrics returns the hub's counters.
func (h *Hub) Metrics() *Metrics { return h.metrics }

// now returns the current time, truncated to what JSON round-trips exactly.
func (h *Hub) now() time.Time { return h.cfg.Now().UTC().Round(time.Microsecond) }

// CanIssueCredentials reports whether the hub holds a CA key.
func (h *Hub) CanIssueCredentials() bool { return h.cfg.CA != nil && h.cfg.CA.CanSign() }
