package server

import (
	"crypto/subtle"
	"net"
	"net/http"
	"time"

	"github.com/ndxp/ndxp/internal/dashboard"
)

// httpHandler serves the probes, /metrics and the dashboard.
func (d *Daemon) httpHandler() http.Handler {
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
	mux.Handle("/", d.requireAuth(dashboard.New(d.hub, dashboard.Options{Logger: d.log})))
	return mux
}

const tokenCookie = "ndxp_dashboard"

// requireAuth lets loopback clients through; others need the configured
// token (Authorization: Bearer, or ?token= which sets a cookie). Without a
// token the dashboard is loopback-only, so a hub listening on a public
// address never shows its registry to anyone who finds it.
func (d *Daemon) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isLoopback(r.RemoteAddr) {
			next.ServeHTTP(w, r)
			return
		}
		tok := d.cfg.DashboardToken
		if tok == "" {
			http.Error(w, "the dashboard is served to loopback clients only; set --dashboard-token to allow others", http.StatusForbidden)
			return
		}
		given := ""
		if h := r.Header.Get("Authorization"); len(h) > 7 && h[:7] == "Bearer " {
			given = h[7:]
		} else if q := r.URL.Query().Get("token"); q != "" {
			given = q
			if subtle.ConstantTimeCompare([]byte(q), []byte(tok)) == 1 {
				http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: q, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Expires: time.Now().Add(12 * time.Hour)})
			}
		} else if c, err := r.Cookie(tokenCookie); err == nil {
			given = c.Value
		}
		if subtle.ConstantTimeCompare([]byte(given), []byte(tok)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ndxp"`)
			http.Error(w, "a dashboard token is required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
