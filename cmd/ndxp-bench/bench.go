package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/internal/pki"
)

// report is the result; --json prints it as is.
type report struct {
	Sends               int64              `json:"sends"`
	SendErrors          int64              `json:"send_errors"`
	FirstError          string             `json:"first_error,omitempty"`
	SendsPerSecond      float64            `json:"sends_per_second"`
	SendMiBPerSecond    float64            `json:"send_mib_per_second"`
	Deliveries          int64              `json:"deliveries"`
	DeliveriesExpected  int64              `json:"deliveries_expected"`
	DeliveriesPerSecond float64            `json:"deliveries_per_second"`
	HubAckedDeliveries  *int64             `json:"hub_acked_deliveries"`
	FetchErrors         int64              `json:"fetch_errors"`
	StatusEvents        int64              `json:"status_events,omitempty"`
	SendLatencyMS       latencyMS          `json:"send_latency_ms"`
	E2ELatencyMS        latencyMS          `json:"e2e_latency_ms"`
	HubCPUSeconds       *float64           `json:"hub_cpu_seconds"`
	HubPeakRSSBytes     *int64             `json:"hub_peak_rss_bytes"`
	HubRSSBeforeBytes   *int64             `json:"hub_rss_before_bytes"`
	HubRSSAfterBytes    *int64             `json:"hub_rss_after_bytes"`
	HubRSSGrowthBytes   *int64             `json:"hub_rss_growth_bytes"`
	BenchCPUSeconds     *float64           `json:"bench_cpu_seconds"`
	DurationSeconds     float64            `json:"duration_seconds"`
	SendSeconds         float64            `json:"send_seconds"`
	DeliverySeconds     float64            `json:"delivery_seconds"`
	HandlerSeconds      float64            `json:"handler_seconds"`
	AckedAtHub          bool               `json:"acked_at_hub"`
	HubStore            *hubStore          `json:"hub_store,omitempty"`
	HubRPC              map[string]rpcStat `json:"hub_rpc,omitempty"`
	SetupSeconds        float64            `json:"setup_seconds"`
	Config              options            `json:"config"`
	IdleSubscribers     *idleResult        `json:"idle_subscribers,omitempty"`
	ListAgencies        *listResult        `json:"list_agencies,omitempty"`
	FsyncProbe          *fsyncResult       `json:"fsync_probe,omitempty"`
	WorkDir             string             `json:"work_dir,omitempty"`
}

// withoutLoad is the report of a run without documents (--list-agencies
// alone), leaving out the document figures rather than printing zeros
// that look like a measurement.
func (r *report) withoutLoad() any {
	return struct {
		HubPeakRSSBytes *int64       `json:"hub_peak_rss_bytes"`
		Config          options      `json:"config"`
		IdleSubscribers *idleResult  `json:"idle_subscribers,omitempty"`
		ListAgencies    *listResult  `json:"list_agencies,omitempty"`
		FsyncProbe      *fsyncResult `json:"fsync_probe,omitempty"`
		WorkDir         string       `json:"work_dir,omitempty"`
	}{r.HubPeakRSSBytes, r.Config, r.IdleSubscribers, r.ListAgencies, r.FsyncProbe, r.WorkDir}
}

// runner holds what every phase shares.
type runner struct {
	o        options
	stderr   io.Writer
	admin    *client.Client
	addr     string // hub gRPC address
	http     string // hub HTTP address, "" if unknown
	hub      procWatch
	self     procWatch
	hp       *hubProc
	issuer   *issuer
	run      uint64 // names this run's documents among any others on the hub
	progress *progress
}

func bench(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	started := time.Now()
	r := &runner{o: o, stderr: stderr, run: rand.Uint64(), self: procWatch{pid: os.Getpid()}}
	rep := &report{Config: o}

	workDir, err := os.MkdirTemp("", "ndxp-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		rep.WorkDir = workDir
	} else {
		defer os.RemoveAll(workDir)
	}
	if o.IdleSubs > 0 {
		// With --idle-procs the children hold the idle connections; the
		// hub child still needs one descriptor for each.
		if _, err := raiseOpenFiles(o.IdleSubs + o.Senders + o.Subscribers); err != nil && o.IdleProcs == 0 {
			return err
		}
	}
	dataDir := o.dataDir
	if dataDir == "" {
		dataDir = filepath.Join(workDir, "hub")
	}
	if o.FsyncProbe {
		if rep.FsyncProbe, err = fsyncProbe(ctx, dataDir, 1000); err != nil {
			return fmt.Errorf("fsync probe: %w", err)
		}
	}

	adminCreds := o.creds
	if o.creds == "" {
		r.hp, err = startHub(ctx, workDir, dataDir, o.HubLogLevel, o.hubCPUProfile, o.hubMemProfile, o.hubEnv())
		if err != nil {
			return err
		}
		defer func() {
			if serr := r.hp.stop(); err == nil {
				err = serr
			}
		}()
		adminCreds, r.addr, r.http, r.hub = r.hp.AdminCreds, r.hp.GRPC, r.hp.HTTP, procWatch{pid: r.hp.PID}
	} else {
		c, err := pki.ReadCreds(o.creds)
		if err != nil {
			return err
		}
		r.addr, r.http, r.hub = c.Address, o.hubHTTP, procWatch{pid: o.hubPID}
		if o.hubAddr != "" {
			r.addr = o.hubAddr
		}
	}
	r.admin, err = client.Dial(ctx, adminCreds, client.WithAddress(r.addr))
	if err != nil {
		return err
	}
	defer r.admin.Close()
	r.issuer = &issuer{admin: r.admin, dir: filepath.Join(workDir, "creds"), addr: r.addr, parallel: o.IssueParallel}
	r.progress = newProgress(stderr, o.progress)
	defer r.progress.stop()

	if o.ListAgencies > 0 {
		if rep.ListAgencies, err = r.listAgencies(ctx); err != nil {
			return err
		}
	}
	var idle *idleSet
	if o.IdleSubs > 0 {
		idle, rep.IdleSubscribers, err = r.idle(ctx)
		defer idle.close() // after the load: the subscriptions stay open during it
		if err != nil {
			return err
		}
	}
	if o.Load {
		if err := r.load(ctx, rep, started); err != nil {
			return err
		}
	}
	if s, ok := r.hub.sample(); ok {
		rep.HubPeakRSSBytes = &s.HWM
	}
	r.progress.stop()
	if r.hp != nil {
		r.hp.control(ctlProfileStop)
	}
	if o.output == string(cli.FormatJSON) {
		if !o.Load {
			return cli.JSON(stdout, rep.withoutLoad())
		}
		return cli.JSON(stdout, rep)
	}
	return printReport(stdout, rep)
}

// phase measures the hub over a stretch of the run.
type phase struct {
	at      time.Time
	hub     procSample
	hubOK   bool
	self    procSample
	selfOK  bool
	metrics scrape
}

// begin scrapes metrics first and samples CPU last, so that the scrape's
// own cost (it takes a snapshot of every queue) stays outside the phase.
func (r *runner) begin(ctx context.Context) phase {
	var p phase
	if r.http != "" {
		p.metrics, _ = readMetrics(ctx, r.http)
	}
	p.hub, p.hubOK = r.hub.sample()
	p.self, p.selfOK = r.self.sample()
	p.at = time.Now()
	return p
}

// phaseEnd is what the hub and this process did during a phase.
type phaseEnd struct {
	hubCPU, selfCPU *float64
	rssBefore       *int64
	rss             *int64
	growth          *int64
}

func (r *runner) end(p phase) phaseEnd {
	var e phaseEnd
	if s, ok := r.hub.sample(); ok && p.hubOK {
		cpu := round3(s.CPU - p.hub.CPU)
		growth := s.RSS - p.hub.RSS
		e.hubCPU, e.rss, e.rssBefore, e.growth = &cpu, &s.RSS, &p.hub.RSS, &growth
	}
	if s, ok := r.self.sample(); ok && p.selfOK {
		cpu := round3(s.CPU - p.self.CPU)
		e.selfCPU = &cpu
	}
	return e
}

var errNotAll = errors.New("not every subscription connected")
