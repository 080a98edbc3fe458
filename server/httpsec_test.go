package server_test

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
)

// hostGet sends GET path to the hub's HTTP listener naming host in the
// Host header ("" names the listener's address), and returns the response
// with its body read.
func hostGet(t *testing.T, c *http.Client, base, host, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %q): %v", path, host, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s (Host %q): %v", path, host, err)
	}
	return res, string(b)
}

// TestHTTPHostCheck: a DNS-rebinding page reaches the hub from the
// operator's own browser, as a loopback client, but names its own host;
// every path but the probes refuses a Host the hub does not answer to.
func TestHTTPHostCheck(t *testing.T) {
	h := hubtest.StartWith(t, func(c *server.Config) {
		c.HTTPAllowedHosts = []string{"hub.example.gov.vn", "10.20.30.40"}
		c.Advertise = "hub-grpc.example.gov.vn:7443"
	})
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h.AddAgency(codeH41, "UBND tỉnh Nghệ An", ndxpv1.Stage_STAGE_PILOT)
	const subject = "Về việc bảo mật bảng giám sát"
	if _, err := g22.Send(context.Background(), &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: subject, Number: "1/HOST"}, nil); err != nil {
		t.Fatal(err)
	}
	base := "http://" + h.Daemon.HTTPAddr()
	docs := "/api/agencies/" + codeG22 + "/documents?n=5"
	paths := []string{"/", "/metrics", "/api/snapshot", docs, "/assets/app.js"}

	tests := []struct {
		host    string
		allowed bool
	}{
		{"", true}, // 127.0.0.1:port
		{"localhost", true},
		{"localhost:7080", true},
		{"LOCALHOST.", true},
		{"[::1]:7080", true},
		{"127.8.9.10", true},
		{"hub.example.gov.vn", true},               // --http-allowed-hosts
		{"HUB.Example.gov.vn:443", true},           // any case and port
		{"10.20.30.40:7080", true},                 // an address listed
		{"hub-grpc.example.gov.vn", true},          // --advertise, without listing
		{"evil.example", false},                    // the rebinding page
		{"evil.example:7080", false},               // with the hub's port
		{"localhost.evil.example", false},          // a loopback name as a prefix
		{"127.0.0.1.evil.example", false},          // a loopback address as a prefix
		{"hub.example.gov.vn.evil.example", false}, // a listed name as a prefix
		{"10.20.30.41", false},
	}
	for _, tt := range tests {
		t.Run(cmp.Or(tt.host, "the listener's address"), func(t *testing.T) {
			for _, p := range paths {
				res, body := hostGet(t, http.DefaultClient, base, tt.host, p)
				switch {
				case tt.allowed && res.StatusCode != http.StatusOK:
					t.Errorf("GET %s: status %d, want 200: %s", p, res.StatusCode, body)
				case !tt.allowed && res.StatusCode != http.StatusMisdirectedRequest:
					t.Errorf("GET %s: status %d, want 421", p, res.StatusCode)
				case !tt.allowed && !strings.Contains(body, "--http-allowed-hosts"):
					t.Errorf("GET %s: body %q does not say how to allow a host", p, body)
				}
				if p == docs && tt.allowed != strings.Contains(body, subject) {
					t.Errorf("GET %s: the document's subject shown %v, want %v", p, !tt.allowed, tt.allowed)
				}
			}
			// The probes answer whatever the name: they tell a page nothing.
			for _, p := range []string{"/healthz", "/readyz"} {
				if res, body := hostGet(t, http.DefaultClient, base, tt.host, p); res.StatusCode != http.StatusOK {
					t.Errorf("GET %s: status %d, want 200: %s", p, res.StatusCode, body)
				}
			}
		})
	}

	t.Run("no Host at all", func(t *testing.T) {
		conn, err := net.Dial("tcp", h.Daemon.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET /api/snapshot HTTP/1.0\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("status %d, want 421", res.StatusCode)
		}
	})
}

// TestHTTPSecurityHeaders: every response, the dashboard's, the probes',
// /metrics', errors and refusals, forbids framing and content sniffing and
// sends no referrer; the dashboard keeps its own script policy.
func TestHTTPSecurityHeaders(t *testing.T) {
	h := hubtest.Start(t)
	base := "http://" + h.Daemon.HTTPAddr()
	tests := []struct {
		host, path string
		status     int
		csp        []string // in Content-Security-Policy
	}{
		{"", "/", http.StatusOK, []string{"frame-ancestors 'none'", "script-src 'self'"}},
		{"", "/assets/app.js", http.StatusOK, []string{"frame-ancestors 'none'", "script-src 'self'"}},
		{"", "/api/snapshot", http.StatusOK, []string{"frame-ancestors 'none'"}},
		{"", "/healthz", http.StatusOK, []string{"frame-ancestors 'none'"}},
		{"", "/readyz", http.StatusOK, []string{"frame-ancestors 'none'"}},
		{"", "/metrics", http.StatusOK, []string{"frame-ancestors 'none'"}},
		{"", "/nope", http.StatusNotFound, []string{"frame-ancestors 'none'"}},
		{"evil.example", "/", http.StatusMisdirectedRequest, []string{"frame-ancestors 'none'"}},
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.path, func(t *testing.T) {
			res, _ := hostGet(t, http.DefaultClient, base, tt.host, tt.path)
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d", res.StatusCode, tt.status)
			}
			for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
				if got := res.Header.Values(k); len(got) != 1 || got[0] != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			csp := res.Header.Values("Content-Security-Policy")
			if len(csp) != 1 {
				t.Fatalf("Content-Security-Policy: %q, want one policy", csp)
			}
			for _, want := range tt.csp {
				if !strings.Contains(csp[0], want) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp[0], want)
				}
			}
		})
	}
}

// TestHTTPIdleConnectionClosed: the hub closes a keep-alive connection
// that stays idle, so idle clients cannot hold connections forever.
func TestHTTPIdleConnectionClosed(t *testing.T) {
	const idle = 200 * time.Millisecond
	h := hubtest.StartWith(t, func(c *server.Config) { c.HTTPIdleTimeout = server.Duration(idle) })
	conn, err := net.Dial("tcp", h.Daemon.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.Close {
		t.Fatal("the hub closed the connection after one request; want keep-alive")
	}
	sent := time.Now()
	// A safety net well under the request timeout (1 min), which would
	// also close the connection, though much later.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, err := br.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read %d bytes, %v; want it closed by the hub (EOF)", n, err)
	}
	if waited := time.Since(sent); waited < idle/2 {
		t.Errorf("closed %v after the response, before the idle timeout %v", waited, idle)
	}
}

// caPool is the test hub's dev CA, which signed its server certificate.
func caPool(t *testing.T, h *hubtest.Hub) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(h.DataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate in ca.crt")
	}
	return pool
}

// TestHTTPTLS: with HTTPTLS the listener serves HTTPS with the hub's own
// certificate, and asks for no client certificate (browsers and Prometheus
// hold none).
func TestHTTPTLS(t *testing.T) {
	h := hubtest.StartWith(t, func(c *server.Config) { c.HTTPTLS = true })
	if u := h.Daemon.HTTPURL(); u != "https://"+h.Daemon.HTTPAddr() {
		t.Errorf("HTTPURL() = %q, want https://%s", u, h.Daemon.HTTPAddr())
	}
	asked := false
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: caPool(t, h),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			asked = true
			return &tls.Certificate{}, nil
		},
	}}}
	defer c.CloseIdleConnections()
	for _, p := range []string{"/healthz", "/api/snapshot", "/"} {
		res, body := hostGet(t, c, h.Daemon.HTTPURL(), "", p)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200: %.200s", p, res.StatusCode, body)
		}
		if res.TLS == nil || len(res.TLS.VerifiedChains) == 0 {
			t.Errorf("GET %s: not over TLS verified by the hub's CA", p)
		}
	}
	if asked {
		t.Error("the HTTPS listener asked for a client certificate")
	}
	// localhost is in the certificate too, as operators type it.
	c.Transport.(*http.Transport).TLSClientConfig.ServerName = "localhost"
	if res, _ := hostGet(t, c, h.Daemon.HTTPURL(), "localhost", "/healthz"); res.StatusCode != http.StatusOK {
		t.Errorf("GET https://localhost/healthz: status %d", res.StatusCode)
	}
	// Plain HTTP is not served on it.
	res, err := http.Get("http://" + h.Daemon.HTTPAddr() + "/api/snapshot")
	if err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered 200 on the TLS listener")
		}
	}
}

// TestHTTPEventStreamOutlivesTimeouts: the dashboard's event stream keeps
// running past the HTTP listener's read and write timeouts (over HTTP/1.1,
// and over HTTP/2 with TLS), which bound every other request.
func TestHTTPEventStreamOutlivesTimeouts(t *testing.T) {
	const timeout = time.Second
	for _, tt := range []struct {
		name  string
		tls   bool
		proto int
	}{
		{"http/1.1", false, 1},
		{"h2 over tls", true, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := hubtest.StartWith(t, func(c *server.Config) {
				c.HTTPTimeout = server.Duration(timeout)
				c.HTTPTLS = tt.tls
			})
			c := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true}}
			if tt.tls {
				c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: caPool(t, h)}
			}
			defer c.CloseIdleConnections()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.Daemon.HTTPURL()+"/api/events", nil)
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK || res.ProtoMajor != tt.proto {
				t.Fatalf("status %d over HTTP/%d, want 200 over HTTP/%d", res.StatusCode, res.ProtoMajor, tt.proto)
			}
			// Each event's arrival time, or how the stream ended.
			type arrival struct {
				at  time.Time
				err error
			}
			events := make(chan arrival, 8)
			go func() {
				sc := bufio.NewScanner(res.Body)
				sc.Buffer(nil, 1<<20)
				for sc.Scan() {
					// The whole picture first, then deltas.
					if strings.HasPrefix(sc.Text(), "event: snapshot") || strings.HasPrefix(sc.Text(), "event: delta") {
						events <- arrival{at: time.Now()}
					}
				}
				events <- arrival{err: errors.Join(sc.Err(), io.ErrUnexpectedEOF)}
			}()
			// next waits for an event that arrived after since.
			next := func(what string, since time.Time) {
				t.Helper()
				giveUp := time.After(time.Minute) // a safety net; the hub sends one at least every 5 s
				for {
					select {
					case a := <-events:
						if a.err != nil {
							t.Fatalf("%s: the stream ended: %v", what, a.err)
						}
						if a.at.After(since) {
							return
						}
					case <-giveUp:
						t.Fatalf("%s: no event", what)
					}
				}
			}
			next("first event", time.Time{})
			// Past both deadlines on purpose: this waits for time to pass,
			// not for work to finish.
			time.Sleep(2*timeout + timeout/2)
			past := time.Now()
			h.AddAgency(codeH41, "UBND tỉnh Nghệ An", ndxpv1.Stage_STAGE_PILOT)
			next("event after the timeouts", past)
		})
	}
}
