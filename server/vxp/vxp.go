// Package vxp serves the VXP HTTP protocol that agency document systems
// speak through their existing SDK (docs/vxp.md): sendEdoc,
// getReceivedEdocList, getEdoc, updateStatus and the directory calls, each
// answered with the SDK's JSON envelope. It translates each request into
// the hub's own calls, the same the gRPC services make: there is no second
// copy of any workflow here.
package vxp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ndxp/ndxp/internal/hub"
)

// Config is what the handler needs.
type Config struct {
	// Hub is the hub the requests act on.
	Hub *hub.Hub
	// Logger receives one line per refused request; nil discards.
	Logger *slog.Logger
	// Registerer, when set, gets the handler's metrics.
	Registerer prometheus.Registerer
	// SpoolDir holds request bodies while they are hashed (sendEdoc), and
	// rendered packets while they are made (getEdoc).
	SpoolDir string
	// MaxBody bounds a request's body; 0 means the hub's largest packet.
	MaxBody int64
	// AllowRegistry lets systems an operator approved register and remove
	// agencies (registerAgency, deleteAgency); off, both are refused.
	AllowRegistry bool
	// ListLimit bounds a list's length; 0 means 1000.
	ListLimit int
	// Idle bounds the wait for each piece of a request's body and each
	// write of a reply; 0 means 30 s. A large packet may take long in
	// all, but a peer that stops sending or reading is dropped.
	Idle time.Duration
	// Serving, on a cluster node, says whether the node serves requests
	// now (it leads) or which gRPC address leads; nil serves always.
	Serving func() (ok bool, leaderGRPC string)
}

// Header names, as the SDK sends them: every parameter is a header
// "XroadVnpt-<key>".
const headerPrefix = "XroadVnpt-"

// Error codes of the envelope's ErrorCode: HTTP's numbers, as text, for
// what went wrong (the reply itself is always 200).
const (
	codeOK          = "0"
	codeBadRequest  = "400"
	codeAuth        = "401"
	codeForbidden   = "403"
	codeNotFound    = "404"
	codeConflict    = "409"
	codeTooLarge    = "413"
	codeExhausted   = "429"
	codeInternal    = "500"
	codeUnavailable = "503"
)

// failure is a refusal: an envelope FAIL with its code and description.
type failure struct {
	code string
	desc string
}

func (f *failure) Error() string { return f.desc }

func fail(code, format string, args ...any) *failure {
	return &failure{code: code, desc: fmt.Sprintf(format, args...)}
}

// failOf turns a hub error into a refusal naming what the hub said.
func failOf(err error) *failure {
	var f *failure
	if errors.As(err, &f) {
		return f
	}
	var he *hub.Error
	msg := "internal error in the hub; the operators have it in the log"
	if errors.As(err, &he) {
		msg = he.Error()
	}
	switch {
	case errors.Is(err, hub.ErrInvalid):
		return fail(codeBadRequest, "%s", msg)
	case errors.Is(err, hub.ErrNotFound):
		return fail(codeNotFound, "%s", msg)
	case errors.Is(err, hub.ErrPermission):
		return fail(codeForbidden, "%s", msg)
	case errors.Is(err, hub.ErrUnauthenticated):
		return fail(codeAuth, "%s", msg)
	case errors.Is(err, hub.ErrPrecondition), errors.Is(err, hub.ErrExists):
		return fail(codeConflict, "%s", msg)
	case errors.Is(err, hub.ErrExhausted):
		return fail(codeExhausted, "%s", msg)
	case errors.Is(err, hub.ErrUnavailable):
		return fail(codeUnavailable, "the hub is shutting down or unavailable; try again shortly")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fail(codeUnavailable, "the request was cancelled before it finished")
	}
	return &failure{code: codeInternal, desc: msg}
}

// request is one authenticated call.
type request struct {
	*http.Request
	w      http.ResponseWriter
	method string
	system hub.VxpSystem
}

// header reads parameter key ("from", "docId"), "" when absent.
func (r *request) header(key string) string { return r.Header.Get(headerPrefix + key) }

// principals are the system's agencies that may act now (not suspended).
func (r *request) principals(h *hub.Hub) []hub.Principal {
	var out []hub.Principal
	for _, code := range r.system.Agencies {
		if p, err := h.VxpPrincipal(r.system.ID, code); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// principal is agency code acting through the system, which must serve it.
func (r *request) principal(h *hub.Hub, field, code string) (hub.Principal, error) {
	if code == "" {
		return hub.Principal{}, fail(codeBadRequest, "the %s header is required", field)
	}
	if !slices.Contains(r.system.Agencies, code) {
		return hub.Principal{}, fail(codeForbidden, "%s %q is not one of system %s's agencies (%s)", field, code, r.system.ID, strings.Join(r.system.Agencies, ", "))
	}
	p, err := h.VxpPrincipal(r.system.ID, code)
	if err != nil {
		return hub.Principal{}, failOf(err)
	}
	return p, nil
}

// method is one call of the protocol: it writes an OK reply itself, or
// returns the refusal.
type method func(s *Server, r *request) error

// Server is the VXP HTTP handler.
type Server struct {
	cfg     Config
	log     *slog.Logger
	methods map[string]method
	reqs    *prometheus.CounterVec
	dur     *prometheus.HistogramVec
}

// New returns the handler. Every answer is HTTP 200 with the SDK's JSON
// envelope, even for a panic, an unknown method or a body too large:
// the SDK reads anything else as an empty success.
func New(cfg Config) *Server {
	if cfg.ListLimit <= 0 {
		cfg.ListLimit = 1000
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 30 * time.Second
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = cfg.Hub.MaxPacketSize()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, methods: methods}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ndxp_vxp_requests_total",
		Help: "Requests to the VXP HTTP API by method and result (OK or FAIL).",
	}, []string{"method", "status"})
	s.dur = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "ndxp_vxp_request_duration_seconds",
		Help:    "Time to answer a VXP HTTP API request, by method.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
	}, []string{"method"})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(s.reqs, s.dur)
	}
	return s
}

// SpoolDir is where bodies wait while they are checked.
func (s *Server) SpoolDir() string { return s.cfg.SpoolDir }

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	start := time.Now()
	name := path.Base(hr.URL.Path)
	label := name
	if _, ok := s.methods[name]; !ok {
		label = "unknown"
	}
	r := &request{Request: hr, w: w, method: name}
	var err error
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in a VXP request", "method", name, "system", r.system.ID, "panic", p, "stack", string(debug.Stack()))
			err = fail(codeInternal, "internal error in the hub; the operators have it in the log")
		}
		status := "OK"
		if err != nil {
			status = "FAIL"
			f := failOf(err)
			if f.code == codeInternal && !errors.As(err, new(*failure)) {
				s.log.Error("VXP request failed", "method", name, "system", r.system.ID, "err", err)
			}
			s.log.Info("VXP request refused", "method", name, "system", r.system.ID, "remote", hr.RemoteAddr, "code", f.code, "reason", f.desc)
			writeJSON(w, envelope{Status: "FAIL", ErrorCode: f.code, ErrorDesc: f.desc})
		}
		s.reqs.WithLabelValues(label, status).Inc()
		s.dur.WithLabelValues(label).Observe(time.Since(start).Seconds())
	}()
	m, ok := s.methods[name]
	if !ok {
		err = fail(codeNotFound, "unknown method %q", name)
		return
	}
	if s.cfg.Serving != nil {
		// The SDK has one endpoint and retries a 503: a load balancer in
		// front of the nodes' VXP ports sends the retry on (docs/cluster.md).
		if ok, leader := s.cfg.Serving(); !ok {
			err = fail(codeUnavailable, "this hub node is not the leader of its cluster (the leader's gRPC address: %q); retry", leader)
			return
		}
	}
	if r.system, err = s.authenticate(hr); err != nil {
		return
	}
	for _, code := range r.system.Agencies {
		s.cfg.Hub.Polled(code)
	}
	rc := http.NewResponseController(w)
	hr.Body = &idleBody{ReadCloser: http.MaxBytesReader(w, hr.Body, s.cfg.MaxBody), rc: rc, idle: s.cfg.Idle}
	r.w = &idleWriter{ResponseWriter: w, rc: rc, idle: s.cfg.Idle}
	err = m(s, r)
}

// authenticate checks the request's signature (docs/vxp.md): the HMAC-SHA256
// of the sign-header string as received, keyed with the system's secret,
// then that every header the string names carries the value it signs.
func (s *Server) authenticate(r *http.Request) (hub.VxpSystem, error) {
	id := r.Header.Get(headerPrefix + "systemid")
	if id == "" {
		return hub.VxpSystem{}, fail(codeAuth, "the XroadVnpt-systemid header is missing")
	}
	sys, secret, ok := s.cfg.Hub.LookupVxpSystem(id)
	if !ok {
		return hub.VxpSystem{}, fail(codeAuth, "system %q is not registered with this hub", id)
	}
	signed := r.Header.Get(headerPrefix + "sign-header")
	got, err := hex.DecodeString(r.Header.Get(headerPrefix + "hash-header"))
	if signed == "" || err != nil || len(got) != sha256.Size {
		return hub.VxpSystem{}, fail(codeAuth, "the request is not signed: XroadVnpt-sign-header and XroadVnpt-hash-header (hex HMAC-SHA256) are required")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signed))
	if !hmac.Equal(mac.Sum(nil), got) {
		return hub.VxpSystem{}, fail(codeAuth, "wrong signature for system %s: XroadVnpt-hash-header is not the HMAC of XroadVnpt-sign-header with the system's secret", id)
	}
	var fields map[string]string
	if err := json.Unmarshal([]byte(signed), &fields); err != nil {
		return hub.VxpSystem{}, fail(codeAuth, "XroadVnpt-sign-header is not a JSON object of strings: %v", err)
	}
	if v, ok := fields[headerPrefix+"systemid"]; !ok || v != id {
		return hub.VxpSystem{}, fail(codeAuth, "XroadVnpt-sign-header must sign XroadVnpt-systemid %q", id)
	}
	for k, v := range fields {
		if r.Header.Get(k) != v {
			return hub.VxpSystem{}, fail(codeAuth, "header %s is %q, the signature signs %q", k, r.Header.Get(k), v)
		}
	}
	return sys, nil
}

// envelope is the SDK's reply.
type envelope struct {
	Status    string `json:"status"`
	ErrorCode string `json:"ErrorCode"`
	ErrorDesc string `json:"ErrorDesc"`
	DocID     string `json:"DocId,omitempty"`
	Count     *int   `json:"count,omitempty"`
	Data      any    `json:"data,omitempty"`
}

func ok() envelope { return envelope{Status: "OK", ErrorCode: codeOK} }

// replyData answers OK with data.
func replyData(r *request, data any) error {
	e := ok()
	e.Data = data
	writeJSON(r.w, e)
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(v)
}

// idleBody extends the read deadline before each read of a body.
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.rc.SetReadDeadline(time.Now().Add(b.idle))
	return b.ReadCloser.Read(p)
}

// idleWriter extends the write deadline before each write of a reply.
type idleWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
}

func (w *idleWriter) Write(p []byte) (int, error) {
	w.rc.SetWriteDeadline(time.Now().Add(w.idle))
	return w.ResponseWriter.Write(p)
}
