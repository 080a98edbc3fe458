package pki

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseAddresses(t *testing.T) {
	tests := []struct {
		list    string
		want    []string
		wantErr bool
	}{
		{"hub.example.gov:7443", []string{"hub.example.gov:7443"}, false},
		{"a:1,b:2,c:3", []string{"a:1", "b:2", "c:3"}, false},
		{" a:1 , [::1]:2 ", []string{"a:1", "[::1]:2"}, false},
		{"", nil, true},
		{"a:1,,b:2", nil, true},
		{"a:1,", nil, true},
		{"a:1,a:1", nil, true},
		{"a:1,b", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseAddresses(tt.list)
		if tt.wantErr {
			if !errors.Is(err, ErrNoAddress) {
				t.Errorf("ParseAddresses(%q) = %q, %v; want %v", tt.list, got, err, ErrNoAddress)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseAddresses(%q): %v", tt.list, err)
		} else if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseAddresses(%q) (-want +got):\n%s", tt.list, diff)
		}
	}
}

// TestCredsSeveralAddresses writes a cluster's credentials and reads them
// back, and checks that the first address stands alone in the header that
// readers from before clusters read.
func TestCredsSeveralAddresses(t *testing.T) {
	tc := newTestCreds(t)
	tests := []struct {
		address    string
		want       []string
		wantHeader string // the Other-Addresses line, "" for none
	}{
		{"n1.hub:7443", []string{"n1.hub:7443"}, ""},
		{"n1.hub:7443, n2.hub:7443,n3.hub:7443", []string{"n1.hub:7443", "n2.hub:7443", "n3.hub:7443"}, "Other-Addresses: n2.hub:7443, n3.hub:7443"},
	}
	for _, tt := range tests {
		data := mustEncode(t, tt.address, tc.caPEM, tc.certPEM, tc.keyPEM)
		if !strings.Contains(string(data), "\nAddress: "+tt.want[0]+"\n") {
			t.Errorf("EncodeCreds(%q): no line %q in\n%s", tt.address, "Address: "+tt.want[0], data)
		}
		if got := strings.Contains(string(data), "Other-Addresses"); got != (tt.wantHeader != "") || tt.wantHeader != "" && !strings.Contains(string(data), tt.wantHeader+"\n") {
			t.Errorf("EncodeCreds(%q): want line %q in\n%s", tt.address, tt.wantHeader, data)
		}
		c, err := ParseCreds(data)
		if err != nil {
			t.Fatalf("ParseCreds: %v", err)
		}
		if c.Address != tt.want[0] {
			t.Errorf("Address = %q, want %q", c.Address, tt.want[0])
		}
		if diff := cmp.Diff(tt.want, c.Addresses); diff != "" {
			t.Errorf("Addresses (-want +got):\n%s", diff)
		}
	}
}

func TestParseCredsBadOtherAddresses(t *testing.T) {
	tc := newTestCreds(t)
	good := string(mustEncode(t, "a:1,b:2", tc.caPEM, tc.certPEM, tc.keyPEM))
	for _, bad := range []string{"a:1", "b:2, b:2", "b:2,,c:3", "nohost"} {
		data := strings.Replace(good, "Other-Addresses: b:2", "Other-Addresses: "+bad, 1)
		if c, err := ParseCreds([]byte(data)); !errors.Is(err, ErrNoAddress) {
			t.Errorf("Other-Addresses %q: ParseCreds = %v, %v; want %v", bad, c, err, ErrNoAddress)
		}
	}
}
