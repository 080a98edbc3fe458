// Package demo fills an ndxp hub with the 2018 pilot register and drives
// gentle, realistic traffic through it, so that the dashboard and the
// command-line tools have something to show. It is built only on the
// public client SDK: every agency it brings online is a real client with
// its own credential, over mutual TLS, exactly as an agency's document
// system would be.
//
// A hub that runs the demo in process (ndxpd --dev --demo) wires it like this:
//
//	admin, err := client.Dial(ctx, d.AdminCredsPath(), client.WithAddress(d.GRPCAddr()))
//	...
//	if _, err := demo.Load(ctx, admin); err != nil { ... }
//	cfg := demo.DefaultConfig()
//	cfg.Admin, cfg.HubAddress = admin, d.GRPCAddr()
//	cfg.CredsDir = filepath.Join(dataDir, "demo")
//	go demo.Run(ctx, cfg) // returns nil when ctx ends
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/pki"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// Config is what Run needs. Zero fields take the values of DefaultConfig,
// so a literal with only Admin set is a working configuration.
type Config struct {
	// Admin is a client with an admin credential: Run lists the pilot
	// agencies and issues their credentials with it. Required.
	Admin *client.Client
	// HubAddress is the address agencies dial and write into their
	// credentials files; empty means the address Admin dials.
	HubAddress string
	// CredsDir keeps the agencies' credentials files (<code>.creds, mode
	// 0600); a later run reuses those the hub still accepts. Empty means a
	// temporary directory, removed as soon as the agencies are connected
	// (a client holds its key in memory), so every run issues new ones.
	CredsDir string
	// Agencies is how many pilot agencies to bring online (at least 2, at
	// most all); 0 means 80% of the hub's pilot agencies.
	Agencies int
	// Rate is the documents sent per second, overall (0 means 1).
	Rate float64
	// UnackedShare is the share of the pilot agencies that receive
	// documents but never open their subscription, so their documents stay
	// queued and the dashboard's offline-with-backlog and unacknowledged
	// alerts show (0 means 0.05, about 3 of 71; negative means none). They
	// are taken from the pilot agencies not brought online.
	UnackedShare float64
	// RecallShare is the share of sends followed by the recall of a recent
	// document (0 means 0.03; negative means none).
	RecallShare float64
	// MaxDelay bounds the random wait of a recipient before each status it
	// reports (0 means 20 s); the shortest wait is MaxDelay/20.
	MaxDelay time.Duration
	// Logger gets one Debug line per action and an Info summary every
	// minute; nil discards.
	Logger *slog.Logger
	// Seed makes the choice of agencies and documents repeatable; 0 takes
	// one from the clock.
	Seed int64
	// OnSent, if set, is called with the hub id of every document accepted
	// (not for duplicates). It may be called from several goroutines at once.
	OnSent func(id string)
	// OnStart, if set, is called once, when the agencies are connected
	// and the traffic begins, with what Run chose: a hub that runs the
	// demo tells its operator there.
	OnStart func(Started)
}

// Started is what Run set up before its traffic began.
type Started struct {
	// Pilot is how many active pilot agencies the hub has.
	Pilot int
	// Online is how many of them Run brought online: they send, receive
	// and report statuses.
	Online int
	// NeverAcknowledging is how many more receive documents but never
	// connect, so the dashboard's alerts have something to show.
	NeverAcknowledging int
	// CredsDir is where the agencies' credentials are kept, "" when they
	// were temporary (Config.CredsDir empty).
	CredsDir string
	// Rate is the documents sent per second, overall.
	Rate float64
}

// DefaultConfig returns the defaults: 1 document per second, 5% of the
// pilot agencies never acknowledging, 3% of sends followed by a recall,
// statuses after 1-20 s.
func DefaultConfig() Config {
	return Config{Rate: 1, UnackedShare: 0.05, RecallShare: 0.03, MaxDelay: 20 * time.Second}
}

// Validate reports a configuration Run cannot use.
func (c Config) Validate() error {
	var errs []error
	if c.Admin == nil {
		errs = append(errs, errors.New("no admin client"))
	} else if code := c.Admin.Code(); code != "" {
		errs = append(errs, fmt.Errorf("the admin client holds the credential of agency %s; the demo needs an admin credential to issue the agencies' credentials", code))
	}
	if c.Agencies < 0 {
		errs = append(errs, fmt.Errorf("agencies: %d is negative", c.Agencies))
	}
	if c.Rate < 0 || c.Rate > 1000 || math.IsNaN(c.Rate) {
		errs = append(errs, fmt.Errorf("rate: %v documents per second is out of range (0-1000)", c.Rate))
	}
	if c.UnackedShare > 1 || math.IsNaN(c.UnackedShare) {
		errs = append(errs, fmt.Errorf("unacked share: %v is more than 1", c.UnackedShare))
	}
	if c.RecallShare > 1 || math.IsNaN(c.RecallShare) {
		errs = append(errs, fmt.Errorf("recall share: %v is more than 1", c.RecallShare))
	}
	if c.MaxDelay < 0 {
		errs = append(errs, fmt.Errorf("max delay: %v is negative", c.MaxDelay))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Rate == 0 {
		c.Rate = d.Rate
	}
	if c.UnackedShare == 0 {
		c.UnackedShare = d.UnackedShare
	}
	if c.RecallShare == 0 {
		c.RecallShare = d.RecallShare
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = d.MaxDelay
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Seed == 0 {
		c.Seed = time.Now().UnixNano()
	}
	return c
}

// agent is one pilot agency the driver plays; c is nil for an agency that
// never connects.
type agent struct {
	code, name string
	c          *client.Client
	alive      atomic.Bool // subscription running; false once it failed for good

	mu         sync.Mutex
	lastNumber int
}

// nextNumber returns a document number (số) for today. Numbers follow the
// clock (one per 10 s since midnight) so that a restarted driver does not
// reuse the numbers, and with them the references, of its earlier run:
// the hub would answer such a send as a retry (duplicate).
func (a *agent) nextNumber(now time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	y, m, d := now.Date()
	clock := int(now.Sub(time.Date(y, m, d, 0, 0, 0, 0, now.Location()))/(10*time.Second)) + 1
	a.lastNumber = max(a.lastNumber+1, clock)
	return a.lastNumber
}

// skipNumbers moves the numbering n ahead.
func (a *agent) skipNumbers(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lastNumber += n
}

// sentDoc is a recent document, a candidate for a recall.
type sentDoc struct {
	id     string
	sender *agent
}

// stats count what happened, for the summaries.
type stats struct {
	sent, duplicates, sendErrors, skipped   atomic.Int64
	received, fetchedBytes, recalls         atomic.Int64
	refused, accepted, processing, complete atomic.Int64
	recallAnswers, reportErrors             atomic.Int64
}

func (s *stats) attrs() []any {
	return []any{
		"sent", s.sent.Load(), "send_errors", s.sendErrors.Load(), "duplicates", s.duplicates.Load(), "skipped", s.skipped.Load(),
		"received", s.received.Load(), "fetched_bytes", s.fetchedBytes.Load(),
		"s02", s.refused.Load(), "s03", s.accepted.Load(), "s05", s.processing.Load(), "s06", s.complete.Load(),
		"recalls", s.recalls.Load(), "s15", s.recallAnswers.Load(), "report_errors", s.reportErrors.Load(),
	}
}

type driver struct {
	cfg        Config
	log        *slog.Logger
	rng        *rng
	online     []*agent // senders and subscribers
	recipients []*agent // online and never-acknowledging agencies
	pilot      int      // active pilot agencies at the hub
	wg         sync.WaitGroup
	stats      stats

	recentMu sync.Mutex
	recent   []sentDoc
}

// maxRecent bounds the recent documents kept for recalls.
const maxRecent = 64

// Run brings pilot agencies online and exchanges documents among them
// until ctx ends; then it stops every goroutine it started, closes its
// connections and returns nil. It returns an error only if it cannot
// start: a bad Config, no pilot agency at the hub, a credential it cannot
// issue or write.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	d := &driver{cfg: cfg, log: cfg.Logger, rng: newRNG(cfg.Seed)}
	defer d.close()
	err := d.setup(ctx)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return err
	}
	d.log.Info("demo traffic starting", "online", len(d.online), "never_acknowledging", len(d.recipients)-len(d.online),
		"rate", cfg.Rate, "seed", cfg.Seed)
	if cfg.OnStart != nil {
		cfg.OnStart(Started{Pilot: d.pilot, Online: len(d.online), NeverAcknowledging: len(d.recipients) - len(d.online),
			CredsDir: cfg.CredsDir, Rate: cfg.Rate})
	}
	for _, a := range d.online {
		a.alive.Store(true)
		d.wg.Go(func() { d.subscribe(ctx, a) })
	}
	d.loop(ctx)
	d.wg.Wait()
	d.log.Info("demo traffic stopped", d.stats.attrs()...)
	return nil
}

// close releases the agencies' connections.
func (d *driver) close() {
	for _, a := range d.online {
		if a.c != nil {
			a.c.Close()
		}
	}
}

// setup chooses the agencies and connects those that go online.
func (d *driver) setup(ctx context.Context) error {
	pilot, err := d.pilotAgencies(ctx)
	if err != nil {
		return err
	}
	if len(pilot) < 2 {
		return fmt.Errorf("demo: the hub has %d active pilot agencies, at least 2 are needed; load the register first (demo.Load, ndxp demo --load)", len(pilot))
	}
	d.pilot = len(pilot)
	d.rng.shuffle(len(pilot), func(i, j int) { pilot[i], pilot[j] = pilot[j], pilot[i] })
	n := d.cfg.Agencies
	if n == 0 {
		n = int(math.Round(0.8 * float64(len(pilot))))
	}
	n = max(2, min(n, len(pilot)))
	u := 0
	if d.cfg.UnackedShare > 0 {
		u = max(1, int(d.cfg.UnackedShare*float64(len(pilot))))
	}
	u = min(u, len(pilot)-n)

	dir := d.cfg.CredsDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "ndxp-demo-*")
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		defer func() {
			// The connections hold their keys in memory; the files are not needed after dialing.
			os.RemoveAll(tmp)
		}()
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("demo: credentials directory: %w", err)
	}
	for _, a := range pilot[:n] {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c, err := d.connect(ctx, dir, a)
		if err != nil {
			return err
		}
		a.c = c
		d.online = append(d.online, a)
	}
	d.recipients = append(append([]*agent(nil), d.online...), pilot[n:n+u]...)
	for _, a := range pilot[n : n+u] {
		d.log.Info("demo agency never acknowledges", "code", a.code, "name", a.name)
	}
	return nil
}

// pilotAgencies lists the hub's unsuspended pilot agencies.
func (d *driver) pilotAgencies(ctx context.Context) ([]*agent, error) {
	var list []*agent
	req := &ndxpv1.ListAgenciesRequest{PageSize: 1000, Stage: ndxpv1.Stage_STAGE_PILOT, Suspension: ndxpv1.SuspensionFilter_SUSPENSION_FILTER_ACTIVE}
	for {
		resp, err := d.cfg.Admin.Registry.ListAgencies(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("demo: list pilot agencies: %w", err)
		}
		for _, a := range resp.GetAgencies() {
			list = append(list, &agent{code: a.GetCode(), name: a.GetName()})
		}
		if resp.GetNextPageToken() == "" {
			return list, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// dialAddress is where the agencies connect: the configured address or
// the one the admin client reaches the hub at.
func (d *driver) dialAddress() string {
	if d.cfg.HubAddress != "" {
		return d.cfg.HubAddress
	}
	return d.cfg.Admin.Address()
}

// connect dials as agency a, reusing its stored credential if the hub
// still accepts it, else issuing a new one.
func (d *driver) connect(ctx context.Context, dir string, a *agent) (*client.Client, error) {
	path := filepath.Join(dir, a.code+".creds")
	if c := d.reuse(ctx, path, a.code); c != nil {
		d.log.Debug("demo credential reused", "code", a.code, "path", path)
		return c, nil
	}
	csr, keyPEM, err := pki.NewCSR(pki.AgencyIdentity(a.code))
	if err != nil {
		return nil, fmt.Errorf("demo: %s: %w", a.code, err)
	}
	resp, err := d.cfg.Admin.Registry.IssueCredential(ctx, &ndxpv1.IssueCredentialRequest{Code: a.code, Csr: csr})
	if err != nil {
		return nil, fmt.Errorf("demo: issue a credential for %s: %w", a.code, err)
	}
	addr := d.cfg.HubAddress
	if addr == "" {
		addr = resp.GetHubAddress()
	}
	if addr == "" {
		addr = d.cfg.Admin.Address()
	}
	if err := pki.WriteCreds(path, addr, resp.GetCaPem(), resp.GetCertificatePem(), keyPEM); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	c, err := client.Dial(ctx, path, client.WithAddress(d.dialAddress()))
	if err != nil {
		return nil, fmt.Errorf("demo: %s: %w", a.code, err)
	}
	d.log.Debug("demo credential issued", "code", a.code, "id", resp.GetCredentialId(), "path", path)
	return c, nil
}

// reuse returns a connection with the credential stored at path if it is
// code's, valid for at least another hour and accepted by the hub (a hub
// reset with a new CA, or a revocation, makes it useless); else nil.
func (d *driver) reuse(ctx context.Context, path, code string) *client.Client {
	creds, err := pki.ReadCreds(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			d.log.Debug("demo credential unreadable; issuing a new one", "path", path, "err", err)
		}
		return nil
	}
	if creds.Identity.Kind != pki.KindAgency || creds.Identity.Name != code || time.Until(creds.Leaf.NotAfter) < time.Hour {
		return nil
	}
	c, err := client.Dial(ctx, path, client.WithAddress(d.dialAddress()))
	if err != nil {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Directory.LookupAgency(pctx, &ndxpv1.LookupAgencyRequest{Code: code}); err != nil {
		d.log.Debug("demo credential refused; issuing a new one", "code", code, "err", err)
		c.Close()
		return nil
	}
	return c
}

// subscribe runs agency a's subscription until ctx ends.
func (d *driver) subscribe(ctx context.Context, a *agent) {
	err := a.c.Subscribe(ctx, d.handler(ctx, a), client.OnConnection(func(connected bool, err error) {
		if !connected && !stopping(ctx) {
			d.log.Debug("demo subscription reconnecting", "code", a.code, "err", err)
		}
	}))
	a.alive.Store(false)
	if err != nil && !stopping(ctx) {
		d.log.Warn("demo agency went offline for good", "code", a.code, "err", err)
	}
}

// handler handles agency a's events. Workflows it starts run under root,
// Run's context, not the handler's, which ends with the stream.
func (d *driver) handler(root context.Context, a *agent) client.Handler {
	return func(ctx context.Context, ev *ndxpv1.Event) error {
		id := ev.GetDocumentId()
		switch ev.GetKind() {
		case ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED, ndxpv1.EventKind_EVENT_KIND_DOCUMENT_UPDATED, ndxpv1.EventKind_EVENT_KIND_DOCUMENT_REPLACED:
			n, err := d.fetch(ctx, a, ev)
			if err != nil {
				if stopping(ctx) {
					return err
				}
				if gone(err) {
					// Nothing to fetch any more: taking the event off the
					// queue is all a document system could do.
					d.log.Debug("demo document gone", "code", a.code, "id", id, "err", err)
					return nil
				}
				d.log.Debug("demo fetch failed; the event comes again", "code", a.code, "id", id, "err", err)
				return err
			}
			d.stats.received.Add(1)
			d.stats.fetchedBytes.Add(n)
			d.log.Debug("demo document received", "code", a.code, "id", id, "from", ev.GetDocument().GetSenderCode(), "bytes", n)
			if ev.GetKind() == ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED {
				d.wg.Go(func() { d.process(root, a, id) })
			}
		case ndxpv1.EventKind_EVENT_KIND_DOCUMENT_RECALLED:
			_, err := a.c.Report(ctx, client.Status{DocumentID: id, Code: "15", Staff: d.rng.personName()})
			if err != nil {
				if stopping(ctx) {
					return err
				}
				if !gone(err) {
					return err
				}
				d.log.Debug("demo recall not answered", "code", a.code, "id", id, "err", err)
				return nil
			}
			d.stats.recallAnswers.Add(1)
			d.log.Debug("demo recall accepted", "code", a.code, "id", id, "status", "15", "reason", ev.GetReason())
		}
		// Status changes of sent documents need nothing from a document system here.
		return nil
	}
}

// stopping reports whether ctx has ended or is about to: the hub may
// enforce a call's deadline a moment before ctx's own timer fires, and
// the DeadlineExceeded that results is the end of the run, not a failure.
func stopping(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < 100*time.Millisecond
}

// gone reports errors that retrying the same call cannot cure.
func gone(err error) bool {
	switch status.Code(err) {
	case codes.NotFound, codes.FailedPrecondition, codes.PermissionDenied, codes.InvalidArgument:
		return true
	}
	return false
}

// fetch downloads every attachment of the event's document and throws
// the bytes away, as a document system that stores them would download them.
func (d *driver) fetch(ctx context.Context, a *agent, ev *ndxpv1.Event) (int64, error) {
	var total int64
	for i := range ev.GetDocument().GetHeader().GetAttachments() {
		n, err := a.c.FetchAttachment(ctx, ev.GetDocument(), i, io.Discard)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// process plays a recipient's clerk: after a while the document is
// registered (03) or, sometimes, refused (02); later it is being handled
// (05) and usually completed (06). A recall stops the workflow: the hub
// then refuses further statuses, which is expected.
func (d *driver) process(ctx context.Context, a *agent, id string) {
	staff := d.rng.personName()
	steps := []string{"03", "05", "06"}
	if d.rng.Float64() < 0.05 {
		steps = []string{"02"}
	}
	for i, code := range steps {
		if i > 0 && d.rng.Float64() < 0.1 {
			return // left at its current status, as real files sometimes are
		}
		if !d.sleep(ctx, d.rng.between(d.cfg.MaxDelay/20, d.cfg.MaxDelay)) {
			return
		}
		reason := ""
		if code == "02" {
			reason = refusal
		}
		if _, err := a.c.Report(ctx, client.Status{DocumentID: id, Code: code, Reason: reason, Staff: staff}); err != nil {
			if !stopping(ctx) {
				d.stats.reportErrors.Add(1)
				d.log.Debug("demo status not recorded", "code", a.code, "id", id, "status", code, "err", err)
			}
			return
		}
		switch code {
		case "02":
			d.stats.refused.Add(1)
		case "03":
			d.stats.accepted.Add(1)
		case "05":
			d.stats.processing.Add(1)
		case "06":
			d.stats.complete.Add(1)
		}
		d.log.Debug("demo status reported", "code", a.code, "id", id, "status", code, "reason", reason)
	}
}

// sleep waits for dt; it returns false if ctx ended first.
func (d *driver) sleep(ctx context.Context, dt time.Duration) bool {
	t := time.NewTimer(dt)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// loop sends at the configured rate and logs a summary every minute until ctx ends.
func (d *driver) loop(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / d.cfg.Rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	summary := time.NewTicker(time.Minute)
	defer summary.Stop()
	// A few sends may overlap so that one slow upload does not stall the
	// rate; beyond that a tick is skipped rather than queued.
	slots := make(chan struct{}, min(16, max(2, int(math.Ceil(d.cfg.Rate)))))
	for {
		select {
		case <-ctx.Done():
			return
		case <-summary.C:
			d.log.Info("demo traffic", d.stats.attrs()...)
		case <-tick.C:
			select {
			case slots <- struct{}{}:
			default:
				d.stats.skipped.Add(1)
				continue
			}
			d.wg.Go(func() {
				defer func() { <-slots }()
				d.send(ctx)
			})
			if d.cfg.RecallShare > 0 && d.rng.Float64() < d.cfg.RecallShare {
				d.wg.Go(func() { d.recall(ctx) })
			}
		}
	}
}

// send sends one document from a random online agency to 1-3 others.
func (d *driver) send(ctx context.Context) {
	var sender *agent
	for range 8 {
		if a := pick(d.rng, d.online); a.alive.Load() {
			sender = a
			break
		}
	}
	if sender == nil {
		d.stats.skipped.Add(1)
		return
	}
	want := 1 + d.rng.IntN(3)
	var to []*agent
	seen := map[string]bool{sender.code: true}
	for range 4 * want {
		if len(to) == want {
			break
		}
		if r := pick(d.rng, d.recipients); !seen[r.code] {
			seen[r.code] = true
			to = append(to, r)
		}
	}
	if len(to) == 0 {
		d.stats.skipped.Add(1)
		return
	}
	now := time.Now()
	h, att := d.rng.document(sender, sender.nextNumber(now), to, now)
	resp, err := sender.c.Send(ctx, h, []client.Attachment{att}, client.WithAttempts(2))
	if err != nil {
		if !stopping(ctx) {
			if n := d.stats.sendErrors.Add(1); n == 1 || n%100 == 0 {
				d.log.Warn("demo send failed", "from", sender.code, "failures", n, "err", err)
			} else {
				d.log.Debug("demo send failed", "from", sender.code, "err", err)
			}
		}
		return
	}
	if resp.GetDuplicate() {
		// An earlier run sent faster than the clock-based numbering:
		// jump past its numbers.
		sender.skipNumbers(100)
		d.stats.duplicates.Add(1)
		d.log.Debug("demo send answered as a duplicate", "from", sender.code, "reference", resp.GetReference())
		return
	}
	d.stats.sent.Add(1)
	d.log.Debug("demo document sent", "id", resp.GetDocumentId(), "from", sender.code, "to", h.GetRecipients(),
		"type", h.GetDocumentType(), "number", h.GetNumber()+"/"+h.GetNotation(), "subject", h.GetSubject())
	d.recentMu.Lock()
	d.recent = append(d.recent, sentDoc{id: resp.GetDocumentId(), sender: sender})
	if len(d.recent) > maxRecent {
		d.recent = d.recent[len(d.recent)-maxRecent:]
	}
	d.recentMu.Unlock()
	if d.cfg.OnSent != nil {
		d.cfg.OnSent(resp.GetDocumentId())
	}
}

// recall recalls a random recent document with a reason.
func (d *driver) recall(ctx context.Context) {
	d.recentMu.Lock()
	if len(d.recent) == 0 {
		d.recentMu.Unlock()
		return
	}
	i := d.rng.IntN(len(d.recent))
	doc := d.recent[i]
	d.recent = append(d.recent[:i], d.recent[i+1:]...)
	d.recentMu.Unlock()
	reason := pick(d.rng, recallReasons)
	resp, err := doc.sender.c.Recall(ctx, doc.id, reason)
	if err != nil {
		if !stopping(ctx) {
			d.log.Debug("demo recall failed", "from", doc.sender.code, "id", doc.id, "err", err)
		}
		return
	}
	d.stats.recalls.Add(1)
	d.log.Debug("demo document recalled", "from", doc.sender.code, "id", doc.id, "reason", reason,
		"withdrawn", resp.GetWithdrawn(), "asked", resp.GetAsked())
}
