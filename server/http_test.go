package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDashboardAuthOutsideLoopback(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	live := sessionValue("s3cret", time.Now().Add(time.Hour))
	tests := []struct {
		name   string
		token  string // configured
		remote string
		header string
		query  string
		cookie string
		want   int
	}{
		{"loopback needs nothing", "", "127.0.0.1:5000", "", "", "", http.StatusOK},
		{"loopback v6", "", "[::1]:5000", "", "", "", http.StatusOK},
		{"remote without a configured token", "", "10.1.2.3:5000", "", "", "", http.StatusForbidden},
		{"remote without a token", "s3cret", "10.1.2.3:5000", "", "", "", http.StatusUnauthorized},
		{"remote with a wrong bearer", "s3cret", "10.1.2.3:5000", "Bearer nope", "", "", http.StatusUnauthorized},
		{"remote with the bearer", "s3cret", "10.1.2.3:5000", "Bearer s3cret", "", "", http.StatusOK},
		{"remote with ?token= is sent on without it", "s3cret", "10.1.2.3:5000", "", "s3cret", "", http.StatusSeeOther},
		{"remote with a wrong ?token=", "s3cret", "10.1.2.3:5000", "", "nope", "", http.StatusUnauthorized},
		{"remote with the session cookie", "s3cret", "10.1.2.3:5000", "", "", live, http.StatusOK},
		{"remote with the raw token as cookie", "s3cret", "10.1.2.3:5000", "", "", "s3cret", http.StatusUnauthorized},
		{"remote with another token's session", "0ther", "10.1.2.3:5000", "", "", live, http.StatusUnauthorized},
		{"remote with a wrong cookie", "s3cret", "10.1.2.3:5000", "", "", "x", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Daemon{dashToken: tt.token}
			url := "/"
			if tt.query != "" {
				url += "?token=" + tt.query
			}
			r := httptest.NewRequest(http.MethodGet, url, nil)
			r.RemoteAddr = tt.remote
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: sessionCookie, Value: tt.cookie})
			}
			w := httptest.NewRecorder()
			d.requireAuth(ok).ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("status = %d, want %d", w.Code, tt.want)
			}
			if tt.want == http.StatusSeeOther && len(w.Result().Cookies()) == 0 {
				t.Error("a good ?token= did not set the cookie")
			}
		})
	}
}

func TestValidSession(t *testing.T) {
	now := time.Now()
	good := sessionValue("s3cret", now.Add(time.Hour))
	sec, mac, _ := strings.Cut(good, ".")
	tests := []struct {
		name  string
		value string
		want  bool
	}{
		{"live", good, true},
		{"expired", sessionValue("s3cret", now.Add(-time.Second)), false},
		{"expiry pushed back", "9" + sec + "." + mac, false},
		{"another token's", sessionValue("0ther", now.Add(time.Hour)), false},
		{"the token itself", "s3cret", false},
		{"empty", "", false},
		{"no expiry", "." + mac, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validSession("s3cret", tt.value, now); got != tt.want {
				t.Errorf("validSession(%q) = %v, want %v", tt.value, got, tt.want)
			}
		})
	}
}

// remoteServer serves h on loopback as if every client came from
// 10.1.2.3: requireAuth trusts loopback clients, and a test machine has no
// other address to dial from for sure.
func remoteServer(t *testing.T, h http.Handler, tls bool) *httptest.Server {
	t.Helper()
	fake := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.RemoteAddr = "10.1.2.3:5000"
		h.ServeHTTP(w, r)
	})
	srv := httptest.NewUnstartedServer(fake)
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}

// TestDashboardSessionCookie: a good ?token= sets a session cookie that is
// not the token (HttpOnly, SameSite=Strict, Secure over TLS) and sends the
// browser on to the same URL without the token; the cookie then opens the
// dashboard.
func TestDashboardSessionCookie(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "dashboard "+r.URL.RequestURI()) })
	const token = "correct-horse-battery"
	tests := []struct {
		name         string
		tls          bool
		path         string
		wantLocation string
	}{
		{"plain", false, "/api/agencies/000.00.00.G22/documents?n=5&token=" + token, "/api/agencies/000.00.00.G22/documents?n=5"},
		{"tls", true, "/?token=" + token, "/"},
		{"no open redirect", false, "//evil.example/x?token=" + token, "/evil.example/x"},
		{"nor through a backslash", false, `/\evil.example/x?token=` + token, "/evil.example/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Daemon{dashToken: token}
			srv := remoteServer(t, d.requireAuth(ok), tt.tls)
			c := srv.Client()
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

			req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Path and query set apart: url.Parse would read "//evil.example"
			// as a host, and the test needs it sent as the path.
			req.URL.Path, req.URL.RawQuery, _ = strings.Cut(tt.path, "?")
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusSeeOther {
				t.Fatalf("status %d, want 303", res.StatusCode)
			}
			if got := res.Header.Get("Location"); got != tt.wantLocation {
				t.Errorf("Location %q, want %q", got, tt.wantLocation)
			}
			set := res.Header.Get("Set-Cookie")
			cookies := res.Cookies()
			if len(cookies) != 1 || cookies[0].Name != sessionCookie {
				t.Fatalf("Set-Cookie %q, want one %s cookie", set, sessionCookie)
			}
			ck := cookies[0]
			if strings.Contains(ck.Value, token) {
				t.Errorf("cookie value %q holds the token", ck.Value)
			}
			if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure != tt.tls {
				t.Errorf("Set-Cookie %q: want HttpOnly, SameSite=Strict and Secure=%v", set, tt.tls)
			}

			// The cookie alone opens the page the redirect names.
			req, _ = http.NewRequest(http.MethodGet, srv.URL+tt.wantLocation, nil)
			req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
			res, err = c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || string(body) != "dashboard "+tt.wantLocation {
				t.Errorf("with the cookie: status %d %q, want 200 %q", res.StatusCode, body, "dashboard "+tt.wantLocation)
			}
		})
	}
}

func writeToken(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode passes the umask
		t.Fatal(err)
	}
	return path
}

func TestDashboardTokenFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
		wantErr string // in the error, "" for none
	}{
		{"trimmed", "  s3cret\n", 0o600, "s3cret", ""},
		{"owner read only", "s3cret", 0o400, "s3cret", ""},
		{"group readable", "s3cret\n", 0o640, "", "run: chmod 600 "},
		{"world readable", "s3cret\n", 0o604, "", "accessible by group or others (mode 0604)"},
		{"group writable", "s3cret\n", 0o620, "", "chmod 600"},
		{"empty", " \n\t", 0o600, "", "is empty"},
		{"too large", strings.Repeat("x", maxTokenFile+1), 0o600, "", "more than 4 KiB"},
		{"as large as allowed", strings.Repeat("x", maxTokenFile), 0o600, strings.Repeat("x", maxTokenFile), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeToken(t, tt.content, tt.mode)
			got, err := readTokenFile(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("readTokenFile: %v, want an error with %q", err, tt.wantErr)
				}
				if strings.Contains(tt.wantErr, "chmod") && !strings.Contains(err.Error(), "chmod 600 "+path) {
					t.Errorf("error %q does not name the file in the chmod to run", err)
				}
				// Validate refuses the configuration too, so ndxpd -t catches it.
				cfg := DefaultConfig()
				cfg.Dev, cfg.DashboardTokenFile = true, path
				if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Validate: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("readTokenFile = %.20q, %v; want %.20q", got, err, tt.want)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		if _, err := readTokenFile(filepath.Join(t.TempDir(), "nope")); err == nil {
			t.Error("a missing file was accepted")
		}
	})
	t.Run("both a token and a file", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Dev, cfg.DashboardToken, cfg.DashboardTokenFile = true, "a", writeToken(t, "b", 0o600)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "not both") {
			t.Errorf("Validate: %v, want an error naming both settings", err)
		}
	})
}

// TestDashboardTokenFromFile: a hub started with a token file asks
// clients outside loopback for that token.
func TestDashboardTokenFromFile(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Dev, cfg.DataDir = true, t.TempDir()
	cfg.Listen, cfg.HTTP = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.DashboardTokenFile = writeToken(t, "from-the-file\n", 0o600)
	d, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	srv := remoteServer(t, d.httpHandler(time.Minute), false)
	for _, tt := range []struct {
		bearer string
		want   int
	}{
		{"from-the-file", http.StatusOK},
		{"from-the-fil", http.StatusUnauthorized},
		{"", http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/snapshot", nil)
		if tt.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+tt.bearer)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tt.want {
			t.Errorf("bearer %q: status %d, want %d", tt.bearer, res.StatusCode, tt.want)
		}
	}
}

func TestHostName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"localhost", "localhost"},
		{"LocalHost:7080", "localhost"},
		{"localhost.", "localhost"},
		{"127.0.0.1:7080", "127.0.0.1"},
		{"[::1]:7080", "::1"},
		{"[::1]", "::1"},
		{"::1", "::1"},
		{"[0:0::1]", "::1"},
		{"Hub.Example.gov.vn.:443", "hub.example.gov.vn"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := hostName(tt.in); got != tt.want {
			t.Errorf("hostName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
