package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"

	"github.com/ndxp/ndxp/internal/hub"
)

// metrics holds the hub's Prometheus registry; it is per daemon (no global
// state), so tests can run several hubs in one process.
type metrics struct {
	reg       *prometheus.Registry
	rpc       *prometheus.HistogramVec
	commitDur prometheus.Histogram
	commits   prometheus.Counter
	fsyncs    prometheus.Counter
	updates   prometheus.Counter
	applyDur  prometheus.Histogram
	applyOps  prometheus.Counter
	applyErrs prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.rpc = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ndxp_rpc_duration_seconds",
		Help:    "gRPC calls by method and status code, with their latency (streams: their whole life).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"method", "code"})
	m.commitDur = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ndxp_store_commit_duration_seconds",
		Help:    "Time of one group commit: the writes of many callers appended to the write-ahead log and synced (one fdatasync).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	})
	m.commits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ndxp_store_commits_total",
		Help: "Group commits: each is one record appended to the write-ahead log and one fdatasync of it.",
	})
	m.fsyncs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ndxp_store_fsyncs_total",
		Help: "fdatasync calls by the store: one per group commit, two per transaction applying the log to the database file.",
	})
	m.updates = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ndxp_store_writes_total",
		Help: "Write operations committed (many share one commit through group commit).",
	})
	m.applyDur = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ndxp_store_apply_duration_seconds",
		Help:    "Time of one transaction copying write-ahead log records into the database file, including its two fsyncs.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
	})
	m.applyOps = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ndxp_store_applied_operations_total",
		Help: "Key writes and deletions copied from the write-ahead log into the database file.",
	})
	m.applyErrs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ndxp_store_apply_errors_total",
		Help: "Failed attempts to copy the write-ahead log into the database file (retried; a full disk is the usual cause).",
	})
	m.reg.MustRegister(m.rpc, m.commitDur, m.commits, m.fsyncs, m.updates, m.applyDur, m.applyOps, m.applyErrs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observeRPC records one finished call. The method label is the short
// "Service/Method" form.
func (m *metrics) observeRPC(method string, code codes.Code, d time.Duration) {
	method = strings.TrimPrefix(method, "/")
	method = strings.TrimPrefix(method, "ndxp.v1.")
	m.rpc.WithLabelValues(method, code.String()).Observe(d.Seconds())
}

func (m *metrics) observeCommit(d time.Duration, updates int) {
	m.commitDur.Observe(d.Seconds())
	m.commits.Inc()
	m.fsyncs.Inc()
	m.updates.Add(float64(updates))
}

func (m *metrics) observeApply(d time.Duration, ops int, err error) {
	if err != nil {
		m.applyErrs.Inc()
		return
	}
	m.applyDur.Observe(d.Seconds())
	m.applyOps.Add(float64(ops))
	m.fsyncs.Add(2)
}

// hubCollector reads the hub's counters and a snapshot at scrape time.
type hubCollector struct {
	h         *hub.Hub
	storeSize func() int64

	sent, delivered, queued, redelivered, refusals, failures      *prometheus.Desc
	agencies, online, depth, oldest, overdue, alerts, size, today *prometheus.Desc
}

func newHubCollector(h *hub.Hub, storeSize func() int64) *hubCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &hubCollector{
		h: h, storeSize: storeSize,
		sent:        d("ndxp_documents_sent_total", "Documents accepted by the hub since it started."),
		delivered:   d("ndxp_documents_delivered_total", "Arrivals acknowledged by recipients (status 01) since the hub started."),
		queued:      d("ndxp_deliveries_queued_total", "Arrival events queued for recipients since the hub started."),
		redelivered: d("ndxp_events_redelivered_total", "Events pushed again after their acknowledgement deadline."),
		failures:    d("ndxp_delivery_failures_total", "Recipients' reports that they could not take a document they were given (VXP updateStatus fail); the document stays waiting."),
		refusals:    d("ndxp_limit_refusals_total", "Calls and connections refused by a limit (docs/security.md), by limit.", "limit"),
		agencies:    d("ndxp_agencies", "Registered agencies by stage.", "stage"),
		online:      d("ndxp_agencies_online", "Agencies online now: with an open subscription, or polling (VXP) within the online window."),
		depth:       d("ndxp_queue_depth", "Documents waiting for their recipients' acknowledgement."),
		oldest:      d("ndxp_queue_oldest_pending_seconds", "Age of the oldest document waiting for acknowledgement (0 if none)."),
		overdue:     d("ndxp_documents_overdue", "Documents waiting for acknowledgement longer than the alert threshold (--unacked-after)."),
		alerts:      d("ndxp_alerts", "Open alerts by kind: agencies with overdue documents (unacknowledged), agencies offline while documents wait (offline_backlog), recipients that reported failing to take waiting documents (delivery_failures).", "kind"),
		size:        d("ndxp_store_size_bytes", "Size of the store file."),
		today:       d("ndxp_documents_today", "Documents accepted today (hub time zone)."),
	}
}

func (c *hubCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sent, c.delivered, c.queued, c.redelivered, c.refusals, c.failures, c.agencies, c.online, c.depth, c.oldest, c.overdue, c.alerts, c.size, c.today} {
		ch <- d
	}
}

func (c *hubCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.h.Metrics()
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter(c.sent, m.DocumentsSent.Load())
	counter(c.delivered, m.Deliveries.Load())
	counter(c.queued, m.QueuedDeliveries.Load())
	counter(c.redelivered, m.Redeliveries.Load())
	counter(c.failures, m.DeliveryFailures.Load())
	for l, name := range hub.LimitNames {
		ch <- prometheus.MustNewConstMetric(c.refusals, prometheus.CounterValue, float64(m.Refusals[l].Load()), name)
	}
	gauge(c.size, float64(c.storeSize()))
	// The summary reads only the hub's memory and no agency lines
	// (hub.Summary), so each scrape takes its own and costs what waits,
	// not the size of the registry.
	s, err := c.h.Summary(context.Background())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.depth, err)
		return
	}
	o := s.Overview
	gauge(c.agencies, float64(o.Pending), "pending")
	gauge(c.agencies, float64(o.Pilot), "pilot")
	gauge(c.agencies, float64(o.Production), "production")
	gauge(c.online, float64(o.Online))
	gauge(c.depth, float64(s.PendingDeliveries))
	gauge(c.oldest, s.OldestPendingAge)
	gauge(c.today, float64(s.DocumentsToday))
	kinds := map[hub.AlertKind]int{hub.AlertUnacknowledged: 0, hub.AlertOfflineBacklog: 0, hub.AlertDeliveryFailures: 0}
	overdue := 0
	for _, a := range s.Alerts {
		kinds[a.Kind]++
		if a.Kind == hub.AlertUnacknowledged {
			overdue += a.Count
		}
	}
	gauge(c.overdue, float64(overdue))
	for k, n := range kinds {
		gauge(c.alerts, float64(n), string(k))
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
