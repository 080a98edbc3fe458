package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ndxp/ndxp/internal/dashboard"
)

// HTTP listener defaults (Config.HTTPTimeout and HTTPIdleTimeout).
const (
	defaultHTTPTimeout     = time.Minute
	defaultHTTPIdleTimeout = time.Minute
)

// httpHandler serves the probes, /metrics and the dashboard. Every response
// carries the security headers; every path but the probes needs a Host the
// hub answers to, then /metrics and the dashboard need a loopback client or
// the token.
func (d *Daemon) httpHandler(eventWriteTimeout time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !d.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", d.requireAuth(d.metrics.handler()))
	mux.Handle("/", d.requireAuth(dashboard.New(d.hub, dashboard.Options{Logger: d.log, EventWriteTimeout: eventWriteTimeout, Cluster: d.srv.dashboardCluster})))
	return securityHeaders(d.checkHost(mux))
}

// securityHeaders sets on every response what keeps a browser from
// framing the hub's pages (clickjacking), guessing content types and
// sending the hub's URLs (which may carry ?token=) to other sites. The
// dashboard sets its own fuller Content-Security-Policy, which names
// frame-ancestors 'none' too.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// checkHost refuses a request whose Host the hub does not answer to. A
// DNS-rebinding page (evil.example re-pointed at 127.0.0.1) reaches the
// hub from the operator's own browser, so it passes as a loopback client;
// only its Host header gives it away.
//
// The probes are exempt: load balancers and orchestrators probe by
// address or by names of their own, and "ok" or "ready" tells a rebinding
// page nothing.
func (d *Daemon) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || d.hostAllowed(r.Host) {
			next.ServeHTTP(w, r)
			return
		}
		d.log.Debug("http: host refused", "host", r.Host, "remote", r.RemoteAddr, "path", r.URL.Path)
		http.Error(w, fmt.Sprintf("this hub does not answer to the host name %q: reach it by a name its operator "+
			"listed in --http-allowed-hosts (or by localhost or 127.0.0.1)", r.Host), http.StatusMisdirectedRequest)
	})
}

// hostAllowed reports whether a request's Host (with or without port)
// names this hub: a loopback name or address, or one in d.allowedHosts.
func (d *Daemon) hostAllowed(hostport string) bool {
	h := hostName(hostport)
	if h == "" {
		return false
	}
	if h == "localhost" {
		return true
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return true
	}
	return slices.Contains(d.allowedHosts, h)
}

// hostName is the host of a Host header or host[:port] setting, in the
// form checkHost compares: lower case, no port, brackets or final dot,
// addresses in canonical form.
func hostName(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return h
}

// allowedHosts lists the host names the HTTP listener answers to besides
// loopback ones: those configured, and the hub's own addresses (listeners
// and advertised address) unless unspecified.
func allowedHosts(cfg Config, advertise string) []string {
	var out []string
	add := func(h string) {
		if h = hostName(h); h == "" || slices.Contains(out, h) {
			return
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
			return
		}
		out = append(out, h)
	}
	for _, h := range cfg.HTTPAllowedHosts {
		add(h)
	}
	for _, a := range []string{cfg.HTTP, cfg.Listen, advertise} {
		if h, _, err := net.SplitHostPort(a); err == nil {
			add(h)
		}
	}
	return out
}

// Dashboard sessions: the cookie a good ?token= sets.
const (
	sessionCookie = "ndxp_dashboard"
	sessionLife   = 12 * time.Hour
)

// sessionValue is the session cookie's value for a session ending at exp:
// the expiry and an HMAC of it keyed by the token. The cookie is never the
// token itself, which also opens /metrics to scripts; the hub checks the
// expiry rather than trusting the browser to drop the cookie; and a new
// token ends every session.
func sessionValue(token string, exp time.Time) string {
	mac := hmac.New(sha256.New, []byte(token))
	fmt.Fprintf(mac, "ndxp dashboard session\n%d", exp.Unix())
	return strconv.FormatInt(exp.Unix(), 10) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// validSession reports whether v is a live session cookie for token.
func validSession(token, v string, now time.Time) bool {
	sec, _, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return false
	}
	exp := time.Unix(n, 0)
	if !now.Before(exp) {
		return false
	}
	return hmac.Equal([]byte(v), []byte(sessionValue(token, exp)))
}

// requireAuth lets loopback clients through; others need the configured
// token (Authorization: Bearer, or ?token= which sets a session cookie and
// redirects to the URL without it). Without a token the dashboard is
// loopback-only, so a hub listening on a public address never shows its
// registry to anyone who finds it.
func (d *Daemon) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isLoopback(r.RemoteAddr) {
			next.ServeHTTP(w, r)
			return
		}
		tok := d.dashToken
		if tok == "" {
			http.Error(w, "the dashboard is served to loopback clients only; set --dashboard-token-file (or NDXP_DASHBOARD_TOKEN) to allow others", http.StatusForbidden)
			return
		}
		good := func(given string) bool { return subtle.ConstantTimeCompare([]byte(given), []byte(tok)) == 1 }
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			if !good(h[len("Bearer "):]) {
				unauthorized(w)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if q := r.URL.Query(); q.Has("token") {
			if !good(q.Get("token")) {
				unauthorized(w)
				return
			}
			exp := time.Now().Add(sessionLife)
			http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sessionValue(tok, exp), Path: "/", Expires: exp,
				HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			// Off the address bar, the history and the logs of whatever
			// sits in front of the hub, now that the cookie carries it.
			w.Header().Set("Location", withoutToken(r.URL))
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusSeeOther)
			return
		}
		if c, err := r.Cookie(sessionCookie); err == nil && validSession(tok, c.Value, time.Now()) {
			next.ServeHTTP(w, r)
			return
		}
		unauthorized(w)
	})
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="ndxp"`)
	http.Error(w, "a dashboard token is required: open the page once with ?token=TOKEN, or send Authorization: Bearer TOKEN", http.StatusUnauthorized)
}

// withoutToken is the path and query of u without its token, to redirect
// to. It always starts with one slash: "//host/…" would send the browser
// to another site.
func withoutToken(u *url.URL) string {
	q := u.Query()
	q.Del("token")
	v := url.URL{Path: "/" + strings.TrimLeft(u.Path, `/\`), RawQuery: q.Encode()}
	return v.RequestURI()
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
