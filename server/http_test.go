package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestDashboardAuthOutsideLoopback(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
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
		{"remote with ?token=", "s3cret", "10.1.2.3:5000", "", "s3cret", "", http.StatusOK},
		{"remote with the cookie", "s3cret", "10.1.2.3:5000", "", "", "s3cret", http.StatusOK},
		{"remote with a wrong cookie", "s3cret", "10.1.2.3:5000", "", "", "x", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Daemon{cfg: Config{DashboardToken: tt.token}}
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
				r.AddCookie(&http.Cookie{Name: tokenCookie, Value: tt.cookie})
			}
			w := httptest.NewRecorder()
			d.requireAuth(ok).ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("status = %d, want %d", w.Code, tt.want)
			}
			if tt.query != "" && tt.want == http.StatusOK && len(w.Result().Cookies()) == 0 {
				t.Error("a good ?token= did not set the cookie")
			}
		})
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
