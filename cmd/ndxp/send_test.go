package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

func TestSplitNumber(t *testing.T) {
	tests := []struct {
		in, number, notation string
	}{
		{"7816/VPCP-TTĐT", "7816", "VPCP-TTĐT"},
		{"12/2025/QĐ-UBND", "12", "2025/QĐ-UBND"}, // the notation keeps later slashes
		{"7816", "7816", ""},
		{" 45 / BC-UBND ", "45", "BC-UBND"},
		{"", "", ""},
		{"7816/", "7816", ""},
	}
	for _, tt := range tests {
		number, notation := splitNumber(tt.in)
		if number != tt.number || notation != tt.notation {
			t.Errorf("splitNumber(%q) = %q, %q; want %q, %q", tt.in, number, notation, tt.number, tt.notation)
		}
	}
}

func TestSendFlagsHeader(t *testing.T) {
	f := sendFlags{
		to: []string{"000.00.00.H41, 000.00.00.H14", "001.00.10.H47"}, subject: "Về việc triển khai",
		number: "7816/VPCP-TTĐT", docType: "Công văn", priority: 2, due: "2025-10-15", date: "2025-09-30",
		signer: "Nguyễn Văn A", position: "Chánh Văn phòng", replace: "01ORIGINAL",
	}
	got, err := f.header(time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	want := &ndxpv1.DocumentHeader{
		Recipients: []string{"000.00.00.H41", "000.00.00.H14", "001.00.10.H47"},
		Number:     "7816", Notation: "VPCP-TTĐT", DocumentType: "Công văn", Subject: "Về việc triển khai",
		PromulgationDate: "2025-09-30", DueDate: "2025-10-15", Priority: 2,
		Signer:       &ndxpv1.Signer{FullName: "Nguyễn Văn A", Position: "Chánh Văn phòng"},
		BusinessType: ndxpv1.BusinessType_BUSINESS_TYPE_REPLACE, OriginalDocumentId: "01ORIGINAL",
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}

	// Without --date, a numbered document gets today's date, so that the
	// reference the hub derives is the same for every retry.
	today := time.Date(2025, 10, 1, 23, 59, 59, 0, time.Local)
	tests := []struct {
		number, ref, want string
	}{
		{"7816/VPCP-TTĐT", "", "2025-10-01"},
		{"", "", ""}, // the SDK makes a reference
		{"7816", "000.00.00.G22,2025/09/30,7816/VPCP-TTĐT", ""}, // the reference is given
	}
	for _, tt := range tests {
		f := sendFlags{to: []string{"000.00.00.H41"}, subject: "x", number: tt.number, ref: tt.ref}
		h, err := f.header(today)
		if err != nil {
			t.Fatal(err)
		}
		if h.GetPromulgationDate() != tt.want {
			t.Errorf("number %q, ref %q: promulgation date %q; want %q", tt.number, tt.ref, h.GetPromulgationDate(), tt.want)
		}
	}
}

// TestUsageErrors checks that command-line mistakes are usage errors
// (exit 2) found before any connection: no credentials are configured.
func TestUsageErrors(t *testing.T) {
	t.Setenv("NDXP_CREDS", "")
	tests := []struct {
		name string
		args []string
		want string // in the message
	}{
		{"send without --to", []string{"send", "--subject", "x"}, "--to"},
		{"send with blank --to", []string{"send", "--to", " , ", "--subject", "x"}, "--to"},
		{"send without --subject", []string{"send", "--to", "000.00.00.H41"}, "--subject"},
		{"send priority 4", []string{"send", "--to", "000.00.00.H41", "--subject", "x", "--priority", "4"}, "--priority"},
		{"send priority -1", []string{"send", "--to", "000.00.00.H41", "--subject", "x", "--priority", "-1"}, "--priority"},
		{"send bad due", []string{"send", "--to", "000.00.00.H41", "--subject", "x", "--due", "15/10/2025"}, "--due"},
		{"send update and replace", []string{"send", "--to", "A", "--subject", "x", "--update", "1", "--replace", "2"}, "exclude"},
		{"send number without number", []string{"send", "--to", "A", "--subject", "x", "--number", "/VPCP"}, "--number"},
		{"send unknown flag", []string{"send", "--too", "A"}, "unknown flag"},
		{"bad output", []string{"-o", "yaml", "sent"}, "-o"},
		{"unknown command", []string{"sned"}, "unknown command"},
		{"receive without --out", []string{"receive"}, "--out"},
		{"receive with args", []string{"receive", "--out", "x", "extra"}, "unknown command"},
		{"status without id", []string{"status", "--code", "03"}, "arg"},
		{"status without code", []string{"status", "01ID"}, "--code"},
		{"status 01", []string{"status", "01ID", "--code", "01"}, "arrival"},
		{"status 13", []string{"status", "01ID", "--code", "13"}, "recall"},
		{"status 02 without reason", []string{"status", "01ID", "--code", "02"}, "--reason"},
		{"status 16 without reason", []string{"status", "01ID", "--code", "16"}, "--reason"},
		{"status 99", []string{"status", "01ID", "--code", "99"}, "want"},
		{"recall without reason", []string{"recall", "01ID"}, "--reason"},
		{"inbox limit 0", []string{"inbox", "--limit", "0"}, "--limit"},
		{"fetch without out", []string{"fetch", "01ID"}, "--out"},
		{"fetch bad id", []string{"fetch", "../etc", "--out", "x"}, "directory name"},
		{"trace two ids", []string{"trace", "a", "b"}, "arg"},
		{"send --edxml with --subject", []string{"send", "--edxml", "p.edxml", "--subject", "x"}, "--edxml excludes --subject"},
		{"send --edxml with --number", []string{"send", "--edxml", "p.edxml", "--number", "1/X"}, "--number"},
		{"send --edxml with files", []string{"send", "--edxml", "p.edxml", "a.pdf"}, "FILE"},
		{"status --edxml with --code", []string{"status", "--edxml", "s.edxml", "--code", "03"}, "--edxml excludes --code"},
		{"status --edxml with id", []string{"status", "01ID", "--edxml", "s.edxml"}, "DOCID"},
		{"fetch --edxml with --out", []string{"fetch", "01ID", "--edxml", "p.edxml", "--out", "x"}, "--out"},
		{"receive bad format", []string{"receive", "--out", "x", "--format", "zip"}, "--format"},
		{"receive edxml keep packed", []string{"receive", "--out", "x", "--format", "edxml", "--keep-packed"}, "--keep-packed"},
		{"edxml inspect without file", []string{"edxml", "inspect"}, "arg"},
		{"edxml unknown", []string{"edxml", "lint", "x"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			var u *cli.UsageError
			if !errors.As(err, &u) {
				t.Fatalf("run(%q) = %v; want a usage error", tt.args, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) = %q; want it to mention %q", tt.args, err, tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q; want nothing", stdout.String())
			}
		})
	}
}

// TestNoCredentials checks that valid flags get as far as dialling, and
// that a missing credentials file is an ordinary error (exit 1).
func TestNoCredentials(t *testing.T) {
	t.Setenv("NDXP_CREDS", "")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"send", "--to", "000.00.00.H41", "--subject", "x"}, &stdout, &stderr)
	var u *cli.UsageError
	if err == nil || errors.As(err, &u) {
		t.Fatalf("run = %v; want a plain error", err)
	}
	if !strings.Contains(err.Error(), "NDXP_CREDS") {
		t.Errorf("error %q; want it to name NDXP_CREDS", err)
	}
}

func TestOpenAttachments(t *testing.T) {
	dir := t.TempDir()
	pdf := filepath.Join(dir, "quyet-dinh.pdf")
	odd := filepath.Join(dir, "ghi-chu.ndxpunknown")
	for _, p := range []string{pdf, odd} {
		if err := os.WriteFile(p, []byte("data"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	atts, closeAll, err := openAttachments([]string{pdf, odd})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	got := [][2]string{}
	for _, a := range atts {
		got = append(got, [2]string{a.Name, a.MediaType})
		if _, ok := a.Body.(*os.File); !ok {
			t.Errorf("%s: body is %T; want a seekable *os.File", a.Name, a.Body)
		}
	}
	want := [][2]string{{"quyet-dinh.pdf", "application/pdf"}, {"ghi-chu.ndxpunknown", "application/octet-stream"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attachments (-want +got):\n%s", diff)
	}

	if _, _, err := openAttachments([]string{dir}); err == nil {
		t.Errorf("openAttachments(directory) succeeded; want an error")
	}
	if _, _, err := openAttachments([]string{filepath.Join(dir, "missing.pdf")}); err == nil {
		t.Errorf("openAttachments(missing file) succeeded; want an error")
	}
}

// TestHelp checks that every command explains itself.
func TestHelp(t *testing.T) {
	root := rootCmd(&app{})
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if c.Short == "" || c.Long == "" || c.Example == "" {
			t.Errorf("%s: Short, Long and Example must all be set", c.Name())
		}
	}
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"send", "--help"}, &stdout, &stdout); err != nil {
		t.Fatalf("send --help: %v", err)
	}
	if !strings.Contains(stdout.String(), "--response-for") {
		t.Errorf("send --help does not list --response-for:\n%s", stdout.String())
	}
}
