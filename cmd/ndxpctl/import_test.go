package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// TestImportMalformedCSV runs the command as an operator would: a file
// whose second line opens a quote and never closes it made ndxpctl panic
// ("out of range index passed to FieldPos"); it must say which line is bad,
// on one line, before it dials any hub.
func TestImportMalformedCSV(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"unclosed quote", "code,name\n\"unterminated\n", []string{"line 2", `missing "`}},
		{"not UTF-8", "code,name\n000.00.00.H41,UBND t\xecnh Ngh\xea An\n", []string{"line 2", "UTF-8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.csv")
			if err := os.WriteFile(path, []byte(tt.in), 0o600); err != nil {
				t.Fatal(err)
			}
			missing := filepath.Join(t.TempDir(), "none.creds") // never read: the file is refused first
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{"--creds", missing, "agency", "import", path}, &stdout, &stderr)
			if err == nil {
				t.Fatalf("agency import %q succeeded; want a refusal", tt.in)
			}
			msg := cli.ErrorLine(err)
			for _, w := range append(tt.want, path, "nothing was imported") {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}

// FuzzReadAgencyCSV feeds the import parser any bytes. It must never
// panic; a refusal is one line that names a line of the file; and the
// agencies of a file it accepts are what a CSV writer's copy of them
// reads back as, and can be sent to the hub (protobuf strings are UTF-8).
func FuzzReadAgencyCSV(f *testing.F) {
	for _, s := range []string{
		"code,name\n000.00.00.G22,Văn phòng Chính phủ\n",
		"\ufeffcode,name,stage\n000.00.00.H41,UBND tỉnh Nghệ An,pilot\n",
		"code,name\n\n000.00.00.H41,UBND tỉnh Nghệ An\n   \n\n000.00.00.H14,UBND tỉnh Cao Bằng\n\n",
		"code,name\r\n000.00.00.H41,UBND tỉnh Nghệ An\r\n",
		"code,name,address\n001.00.00.H47,\"Sở Tài chính, tỉnh Quảng Nam\",\"62 Hùng Vương, Tam Kỳ\"\n000.00.00.H79,\"UBND \"\"TP HCM\"\"\",\n",
		"code,name\n000.00.00.H41,\"UBND tỉnh\nNghệ An\"\n",
		" Stage ,ADDRESS,phone,email,contact,parent,name,code\nProduction, Vinh ,0238,vt@nghean.gov.vn,Hồ Thư,000.00.00.G22, UBND ,000.00.00.H41\n",
		"code,name\n\"unterminated\n", // the panic of the security issue
		"\"code,name\n000.00.00.H41,UBND\n",
		"code,name\n000.00.00.H41,UBND \"Nghệ An\"\n",
		"code,name,code\n1,2,3\n",
		"code,name,stage\n000.00.00.H41,x,thử nghiệm\n",
		"code,name\n000.00.00.H41,t\xecnh\n",
		"",
	} {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.csv"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		list, lines, err := readAgencyCSV(bytes.NewReader(in))
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") || !strings.Contains(msg, "line") {
				t.Fatalf("error %q: want one line that names a line", msg)
			}
			if list != nil || lines != nil {
				t.Fatalf("an error and %d agencies", len(list))
			}
			return
		}
		if len(list) == 0 || len(lines) != len(list) {
			t.Fatalf("%d agencies and %d line numbers", len(list), len(lines))
		}
		for i, l := range lines {
			if l < 2 || (i > 0 && l <= lines[i-1]) {
				t.Fatalf("line numbers %v: want increasing from 2 (the header is line 1)", lines)
			}
		}
		for _, a := range list {
			b, err := proto.Marshal(a)
			if err != nil {
				t.Fatalf("agency %v cannot be sent: %v", a, err)
			}
			var back ndxpv1.Agency
			if err := proto.Unmarshal(b, &back); err != nil || !proto.Equal(a, &back) {
				t.Fatalf("agency %v came back from the wire as %v (%v)", a, &back, err)
			}
		}
		again, _, err := readAgencyCSV(bytes.NewReader(writeAgencyCSV(t, list)))
		if err != nil {
			t.Fatalf("the accepted agencies written back do not read: %v", err)
		}
		if diff := cmp.Diff(list, again, protocmp.Transform()); diff != "" {
			t.Fatalf("agencies written and read back (-first +again):\n%s", diff)
		}
	})
}

// writeAgencyCSV writes agencies with every column, as an operator's
// spreadsheet would.
func writeAgencyCSV(t *testing.T, list []*ndxpv1.Agency) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(csvColumns)
	for _, a := range list {
		stage := ""
		switch a.GetStage() {
		case ndxpv1.Stage_STAGE_PENDING:
			stage = "pending"
		case ndxpv1.Stage_STAGE_PILOT:
			stage = "pilot"
		case ndxpv1.Stage_STAGE_PRODUCTION:
			stage = "production"
		}
		c := a.GetContact()
		w.Write([]string{a.GetCode(), a.GetName(), a.GetParentCode(), stage, c.GetPerson(), c.GetEmail(), c.GetPhone(), c.GetAddress()})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
