package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/ndxp/ndxp/internal/hub"
)

// Config configures a hub daemon. Flags and a config file fill it (flags
// win); DefaultConfig gives the defaults.
type Config struct {
	// DataDir holds the store, and in dev mode the CA and admin credentials.
	DataDir string `json:"data"`
	// Listen is the gRPC address (mutual TLS).
	Listen string `json:"listen"`
	// HTTP is the address of /healthz, /readyz and the dashboard; "" disables it.
	HTTP string `json:"http"`
	// Advertise is the gRPC address written into issued credentials;
	// empty means the listen address (127.0.0.1 for an unspecified host).
	Advertise string `json:"advertise"`
	// Dev makes (on first start) and reuses a CA, a localhost server
	// certificate and an admin credentials file in DataDir.
	Dev bool `json:"dev"`
	// CACert is the CA certificate file (PEM) agencies' and admins'
	// certificates must chain to, outside dev mode.
	CACert string `json:"ca_cert"`
	// CAKey is the CA key file; with it the hub can issue credentials.
	// Without it, an external CA issues them.
	CAKey string `json:"ca_key"`
	// TLSCert and TLSKey are the hub's server certificate and key files.
	TLSCert string `json:"tls_cert"`
	TLSKey  string `json:"tls_key"`
	// ShutdownTimeout bounds a graceful stop before streams are cut.
	ShutdownTimeout Duration `json:"shutdown_timeout"`
	// DashboardToken, when set, lets HTTP clients from outside loopback see
	// the dashboard and /metrics with "Authorization: Bearer TOKEN" (or
	// ?token=TOKEN once, which sets a session cookie). Without it only
	// loopback clients may. Given as a flag it shows in the process list:
	// prefer DashboardTokenFile or $NDXP_DASHBOARD_TOKEN.
	DashboardToken string `json:"dashboard_token"`
	// DashboardTokenFile names a file holding the dashboard token, trimmed
	// of surrounding white space. Like ssh with a private key, the hub
	// refuses a file that group or others may read.
	DashboardTokenFile string `json:"dashboard_token_file"`
	// HTTPAllowedHosts are the host names (or addresses) the HTTP listener
	// answers to besides loopback ones (localhost, 127.x, ::1) and the
	// hosts of HTTP, Listen and Advertise. A request naming another Host
	// gets 421, so a DNS-rebinding page in an operator's browser cannot
	// read the dashboard; a hub reached by name must list the name here.
	HTTPAllowedHosts []string `json:"http_allowed_hosts"`
	// HTTPTLS serves the HTTP listener over TLS with the hub's server
	// certificate; it asks for no client certificate.
	HTTPTLS bool `json:"http_tls"`
	// HTTPTimeout bounds reading a request and writing its response on the
	// HTTP listener (default 1m). The dashboard's event stream lasts
	// longer, but each of its events must be written within it.
	HTTPTimeout Duration `json:"http_timeout"`
	// HTTPIdleTimeout closes an HTTP keep-alive connection idle this long
	// (default 1m).
	HTTPIdleTimeout Duration `json:"http_idle_timeout"`
	// UnackedAfter: a document waiting longer than this for its recipient's
	// acknowledgement raises an alert (default 15m).
	UnackedAfter Duration `json:"unacked_after"`
	// VxpOnlineWindow: an agency that polls over the VXP HTTP API counts
	// as online for this long after each poll (default 2m).
	VxpOnlineWindow Duration `json:"vxp_online_window"`
	// TimeZone names the zone of "today" in daily counts (default: the
	// machine's), e.g. "Asia/Ho_Chi_Minh".
	TimeZone string `json:"timezone"`
	// Demo loads the 2018 pilot registry into an empty store and runs demo
	// traffic among the pilot agencies (dev mode only).
	Demo bool `json:"demo"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `json:"log_level"`
	// LogFormat is text or json.
	LogFormat string `json:"log_format"`
	// RetentionDays: when positive, the hub purges every hour the
	// attachment bodies of completed documents older than this many days,
	// keeping their headers and traces; 0 keeps them forever.
	RetentionDays int `json:"retention_days"`

	// MaxConns bounds the gRPC listener's open connections; 0 derives it
	// from the descriptor limit, keeping room for the store and files.
	MaxConns int `json:"max_conns"`
	// MaxConnsPerHost bounds the connections from one address (0: no limit).
	MaxConnsPerHost int `json:"max_conns_per_host"`
	// HandshakeTimeout closes a connection that has not finished its TLS
	// handshake by then.
	HandshakeTimeout Duration `json:"handshake_timeout"`
	// Limits bound what one caller may hold of the hub (docs/security.md).
	Limits Limits `json:"limits"`
	// VxpListen is the address of the VXP HTTP API (docs/vxp.md); empty:
	// not served.
	VxpListen string `json:"vxp_listen"`
	// VxpPlainHTTP serves the VXP API without TLS, on a loopback address
	// only unless VxpPlainHTTPAny is set too.
	VxpPlainHTTP bool `json:"vxp_plain_http"`
	// VxpPlainHTTPAny lets VxpPlainHTTP serve a non-loopback address:
	// secrets' signatures and documents then cross the network in clear.
	VxpPlainHTTPAny bool `json:"vxp_plain_http_any"`
	// VxpAllowRegistry lets approved systems register and remove agencies.
	VxpAllowRegistry bool `json:"vxp_allow_registry"`
	// VxpOptional makes a VxpListen address that cannot be bound a warning
	// rather than an error (ndxpd --dev's default address).
	VxpOptional bool `json:"-"`
	// EdxmlRequireValidSignature refuses edXML packets whose XML-DSig is
	// not valid (docs/edxml.md); by default it is checked and recorded only.
	EdxmlRequireValidSignature bool `json:"edxml_require_valid_signature"`
	// EdxmlTrustCA is a PEM file of the CA certificates that decide whether
	// a packet's signer is trusted; empty: trust is not decided.
	EdxmlTrustCA string `json:"edxml_trust_ca"`

	// NodeID names this node of a cluster (its certificate is
	// urn:ndxp:node:<id>); empty: single-node mode, the default. The
	// cluster settings (NodeID, RaftListen, Peers, NodeCert, NodeKey) are
	// all set or none (docs/cluster.md).
	NodeID string `json:"node_id"`
	// RaftListen is the address of the node port (Raft and attachment
	// traffic between nodes, mutual TLS with node certificates).
	RaftListen string `json:"raft_listen"`
	// Peers are every node of the cluster, this one included: the
	// membership a new cluster bootstraps from. With Join, the members as
	// known when the node was made (their gRPC addresses go into the
	// credentials it issues), possibly none.
	Peers []Peer `json:"peers"`
	// Join makes a node without Raft state wait for the leader of a
	// running cluster to add it (ndxpctl cluster add) instead of
	// bootstrapping a new cluster from Peers.
	Join bool `json:"join"`
	// NodeCert and NodeKey are this node's certificate and key files
	// (pki.CA.IssueNode), presented on the node port in both directions.
	NodeCert string `json:"node_cert"`
	NodeKey  string `json:"node_key"`

	// Logger, when set, is used instead of one built from LogLevel/LogFormat.
	Logger *slog.Logger `json:"-"`
}

// Peer is a node of a cluster as the others reach it.
type Peer struct {
	ID   string `json:"id"`   // node id, as in its certificate
	Raft string `json:"raft"` // its node port, host:port
	GRPC string `json:"grpc"` // its agency and admin gRPC address, host:port
}

// Limits are hub.Limits as ndxpd's flags and config file give them.
type Limits struct {
	Uploads        int      `json:"uploads"`
	Fetches        int      `json:"fetches"`
	Watches        int      `json:"watches"`
	Backups        int      `json:"backups"`
	UploadIdle     Duration `json:"upload_idle"`
	UploadMemory   int64    `json:"upload_memory"`
	HeaderBytes    int      `json:"header_bytes"`
	ListBytes      int      `json:"list_bytes"`
	SendRate       float64  `json:"send_rate"`
	SendBurst      int      `json:"send_burst"`
	SenderQuota    int64    `json:"sender_quota"`
	RecipientQuota int64    `json:"recipient_quota"`
}

func limitsOf(l hub.Limits) Limits {
	return Limits{Uploads: l.Uploads, Fetches: l.Fetches, Watches: l.Watches, Backups: l.Backups,
		UploadIdle: Duration(l.UploadIdle), UploadMemory: l.UploadMemory, HeaderBytes: l.HeaderBytes, ListBytes: l.ListBytes,
		SendRate: l.SendRate, SendBurst: l.SendBurst, SenderQuota: l.SenderQuota, RecipientQuota: l.RecipientQuota}
}

// Hub returns the limits in the hub's terms.
func (l Limits) Hub() hub.Limits {
	return hub.Limits{Uploads: l.Uploads, Fetches: l.Fetches, Watches: l.Watches, Backups: l.Backups,
		UploadIdle: time.Duration(l.UploadIdle), UploadMemory: l.UploadMemory, HeaderBytes: l.HeaderBytes, ListBytes: l.ListBytes,
		SendRate: l.SendRate, SendBurst: l.SendBurst, SenderQuota: l.SenderQuota, RecipientQuota: l.RecipientQuota}
}

// Connection defaults.
const (
	// DefaultHandshakeTimeout is long enough for a TLS handshake across
	// the country, short enough that idle sockets cannot pile up.
	DefaultHandshakeTimeout = 5 * time.Second
	// DefaultMaxConnsPerHost allows a hosting provider many agency
	// systems behind one address, and no single address the whole hub.
	DefaultMaxConnsPerHost = 1024
)

// Duration is a time.Duration written as text ("10s") in config files.
type Duration time.Duration

// MarshalText writes the duration as Go duration text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// String is the duration as Go duration text, for flags.
func (d Duration) String() string { return time.Duration(d).String() }

// Set reads a flag's value as Go duration text.
func (d *Duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }

// Type names the flag value's type in help text.
func (d *Duration) Type() string { return "duration" }

// UnmarshalText reads Go duration text such as "10s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// DefaultConfig returns the defaults of ndxpd's flags.
func DefaultConfig() Config {
	return Config{
		DataDir:          "./ndxp-data",
		Listen:           "127.0.0.1:7443",
		HTTP:             "127.0.0.1:7080",
		HTTPTimeout:      Duration(defaultHTTPTimeout),
		HTTPIdleTimeout:  Duration(defaultHTTPIdleTimeout),
		ShutdownTimeout:  Duration(8 * time.Second),
		LogLevel:         "info",
		LogFormat:        "text",
		MaxConnsPerHost:  DefaultMaxConnsPerHost,
		HandshakeTimeout: Duration(DefaultHandshakeTimeout),
		Limits:           limitsOf(hub.DefaultLimits()),
	}
}

// LoadConfigFile reads a JSON config file over c. Unknown keys are errors,
// so a misspelt setting is not silently ignored.
func LoadConfigFile(path string, c *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// Validate reports settings that cannot work, naming the setting.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data: a data directory is required"))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %q is not host:port: %w", c.Listen, err))
	}
	if c.HTTP != "" {
		if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
			errs = append(errs, fmt.Errorf("http: %q is not host:port: %w", c.HTTP, err))
		}
	}
	if c.Advertise != "" {
		if _, _, err := net.SplitHostPort(c.Advertise); err != nil {
			errs = append(errs, fmt.Errorf("advertise: %q is not host:port: %w", c.Advertise, err))
		}
	}
	for _, h := range c.HTTPAllowedHosts {
		if hostName(h) == "" || strings.ContainsAny(h, "/ \t*@") {
			errs = append(errs, fmt.Errorf("http_allowed_hosts: %q is not a host name or address (write hub.example.gov.vn, not a URL)", h))
		}
	}
	if c.HTTPTLS && c.HTTP == "" {
		errs = append(errs, errors.New("http_tls: needs an HTTP listener (http)"))
	}
	if c.HTTPTimeout < 0 || c.HTTPIdleTimeout < 0 {
		errs = append(errs, errors.New("http_timeout, http_idle_timeout: must not be negative"))
	}
	if c.DashboardToken != "" && c.DashboardTokenFile != "" {
		errs = append(errs, errors.New("dashboard_token, dashboard_token_file: set one, not both"))
	}
	if c.DashboardTokenFile != "" {
		if _, err := readTokenFile(c.DashboardTokenFile); err != nil {
			errs = append(errs, err)
		}
	}
	if !c.Dev {
		if c.CACert == "" || c.TLSCert == "" || c.TLSKey == "" {
			errs = append(errs, errors.New("outside --dev, --ca-cert, --tls-cert and --tls-key are required"))
		}
	} else if c.CACert != "" || c.CAKey != "" || c.TLSCert != "" || c.TLSKey != "" {
		errs = append(errs, errors.New("--dev makes its own CA and server certificate; do not combine it with --ca-cert, --ca-key, --tls-cert or --tls-key"))
	}
	if (c.CAKey != "") && c.CACert == "" {
		errs = append(errs, errors.New("ca_key: needs ca_cert"))
	}
	if c.Demo && !c.Dev {
		errs = append(errs, errors.New("--demo needs --dev"))
	}
	if c.UnackedAfter < 0 {
		errs = append(errs, errors.New("unacked_after: must not be negative"))
	}
	if c.VxpOnlineWindow < 0 {
		errs = append(errs, errors.New("vxp_online_window: must not be negative"))
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			errs = append(errs, fmt.Errorf("timezone: %w", err))
		}
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("shutdown_timeout: must not be negative"))
	}
	if c.RetentionDays < 0 || c.RetentionDays > hub.MaxRetentionDays {
		errs = append(errs, fmt.Errorf("retention_days: %d out of 0 (keep forever)..%d", c.RetentionDays, hub.MaxRetentionDays))
	}
	if c.MaxConns < 0 || c.MaxConnsPerHost < 0 {
		errs = append(errs, errors.New("max_conns, max_conns_per_host: must not be negative"))
	}
	if c.VxpPlainHTTP && c.VxpListen != "" && !c.VxpPlainHTTPAny {
		if h, _, err := net.SplitHostPort(c.VxpListen); err != nil || !isLoopbackHost(h) {
			errs = append(errs, fmt.Errorf("vxp_plain_http: %s is not a loopback address; plain HTTP there needs vxp_plain_http_any too (documents and signatures cross the network in clear)", c.VxpListen))
		}
	}
	if c.VxpPlainHTTPAny && !c.VxpPlainHTTP {
		errs = append(errs, errors.New("vxp_plain_http_any: needs vxp_plain_http"))
	}
	if c.HandshakeTimeout <= 0 {
		errs = append(errs, errors.New("handshake_timeout: must be positive"))
	}
	errs = append(errs, c.validateCluster()...)
	hc := hub.DefaultConfig()
	hc.Limits = c.Limits.Hub()
	if err := hc.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("limits: %w", err))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log_format: %q is neither text nor json", c.LogFormat))
	}
	return errors.Join(errs...)
}

// maxTokenFile bounds a token file: a token is one line, and a large file
// (a device, a log named by mistake) is not one.
const maxTokenFile = 4 << 10

// readTokenFile reads the dashboard token from path. It refuses a file
// that group or others may access, as ssh refuses such a private key:
// whoever reads the token reads the registry.
func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("dashboard_token_file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("dashboard_token_file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("dashboard_token_file: %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return "", fmt.Errorf("dashboard_token_file: %s is accessible by group or others (mode %04o); run: chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("dashboard_token_file: %w", err)
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("dashboard_token_file: %s holds more than %d KiB; it should hold the token alone", path, maxTokenFile>>10)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("dashboard_token_file: %s is empty", path)
	}
	return tok, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log_level: %q is not debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger builds the logger a Config asks for, writing to w.
func (c Config) NewLogger(w io.Writer) *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	lvl, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
