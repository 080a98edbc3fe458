package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/internal/hubtest"
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
		b, err := proto.Marshal(&ndxpv1.ImportAgenciesStreamRequest{Agencies: list})
		if err != nil {
			t.Fatalf("the agencies cannot be sent: %v", err)
		}
		var back ndxpv1.ImportAgenciesStreamRequest
		if err := proto.Unmarshal(b, &back); err != nil || len(back.GetAgencies()) != len(list) {
			t.Fatalf("the agencies came back from the wire as %v (%v)", &back, err)
		}
		for i, a := range list {
			if !proto.Equal(a, back.GetAgencies()[i]) {
				t.Fatalf("agency %v came back from the wire as %v", a, back.GetAgencies()[i])
			}
		}
		again, _, err := readAgencyCSV(bytes.NewReader(writeAgencyCSV(t, list)))
		if err != nil {
			t.Fatalf("the accepted agencies written back do not read: %v", err)
		}
		same := len(again) == len(list)
		for i := 0; same && i < len(list); i++ {
			same = proto.Equal(list[i], again[i])
		}
		if !same { // cmp.Diff only now: it is most of the cost of an input
			t.Fatalf("agencies written and read back (-first +again):\n%s", cmp.Diff(list, again, protocmp.Transform()))
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

// nthCode returns the i-th of a million distinct level-2..4 codes under H41.
func nthCode(i int) string {
	return fmt.Sprintf("%03d.%02d.%02d.H41", 1+i%999, i/999%100, i/99900%100)
}

// writeLargeCSV writes n agencies under 000.00.00.H41 as an operator's
// export would (about 78 bytes a row, as the 7.8 MB file of the issue);
// bad, when positive, is the 0-based row given a malformed code.
func writeLargeCSV(t *testing.T, n, bad int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("code,name,parent,stage\n")
	for i := range n {
		code := nthCode(i)
		if i == bad {
			code = "000.00.00.X1"
		}
		fmt.Fprintf(&b, "%s,Phòng %d thuộc UBND tỉnh Nghệ An,000.00.00.H41,pilot\n", code, i)
	}
	path := filepath.Join(t.TempDir(), "agencies.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestImportBatches: however large the rows, every message of a streamed
// import stays within the batch size, and the batches are the list in order.
func TestImportBatches(t *testing.T) {
	long := strings.Repeat("Ủy ban nhân dân ", 18) // near the hub's 300-character name limit
	var list []*ndxpv1.Agency
	for i := range 20_000 {
		list = append(list, &ndxpv1.Agency{Code: nthCode(i), Name: long, ParentCode: "000.00.00.H41",
			Contact: &ndxpv1.Contact{Person: long[:100], Email: "vanthu@nghean.gov.vn", Address: long[:200]}})
	}
	whole := proto.Size(&ndxpv1.ImportAgenciesRequest{Agencies: list})
	if whole <= 4<<20 {
		t.Fatalf("the list encodes to %d bytes; the test wants more than gRPC's 4 MiB", whole)
	}
	batches := importBatches(list, importBatchBytes)
	var again []*ndxpv1.Agency
	for i, b := range batches {
		n := proto.Size(&ndxpv1.ImportAgenciesStreamRequest{Agencies: b})
		if n > importBatchBytes {
			t.Errorf("batch %d encodes to %d bytes, over %d", i, n, importBatchBytes)
		}
		if n < importBatchBytes*9/10 && i < len(batches)-1 {
			t.Errorf("batch %d encodes to %d bytes: batches are smaller than they need be", i, n)
		}
		again = append(again, b...)
	}
	if len(again) != len(list) {
		t.Fatalf("the batches hold %d agencies, want %d", len(again), len(list))
	}
	for i := range list {
		if again[i] != list[i] {
			t.Fatalf("agency %d of the batches is not the list's agency %d", i, i)
		}
	}
	if got := importBatches(list[:1], 10); len(got) != 1 || len(got[0]) != 1 {
		t.Errorf("an agency larger than the batch size: batches %v, want it alone", got)
	}
	if got := importBatches(nil, importBatchBytes); len(got) != 0 {
		t.Errorf("no agencies: %d batches, want none", len(got))
	}
}

// TestImportLargeFile imports 100,000 agencies (a 7.8 MB file) through
// the command, the gRPC stream and a real hub: one request of them was
// refused by gRPC's 4 MiB message limit. It takes about 10 s with -race
// on two cores, so -short imports 20,000 (still several batches), and
// TestImportBatches checks the message sizes. A bad row at the end of a
// file of several batches stores nothing and is named by its line.
func TestImportLargeFile(t *testing.T) {
	h := hubtest.Start(t)
	ctl := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), append([]string{"--creds", h.AdminCreds(), "--hub", h.Daemon.GRPCAddr()}, args...), &stdout, &stderr)
		return stdout.String(), err
	}
	h.AddAgency("000.00.00.H41", "UBND tỉnh Nghệ An", ndxpv1.Stage_STAGE_PILOT)
	n := 100_000
	if testing.Short() {
		n = 20_000
	}

	const nBad = 30_000 // three batches
	bad := writeLargeCSV(t, nBad, nBad-10)
	_, err := ctl("agency", "import", bad)
	if err == nil {
		t.Fatal("a file with a bad row was imported")
	}
	msg := cli.ErrorLine(err)
	if want := fmt.Sprintf("line %d: code", nBad-10+2); !strings.Contains(msg, want) || !strings.Contains(msg, "nothing was imported") {
		t.Errorf("error %q: want it to name %q and say nothing was imported", msg, want)
	}
	if o := h.Daemon.Hub().Overview(); o.Total != 1 {
		t.Fatalf("%d agencies registered after a refused import, want 1", o.Total)
	}

	good := writeLargeCSV(t, n, -1)
	if fi, _ := os.Stat(good); !testing.Short() && fi.Size() < 7<<20 {
		t.Fatalf("the file is %d bytes; the test wants one as large as the issue's", fi.Size())
	}
	start := time.Now()
	out, err := ctl("agency", "import", good)
	if err != nil {
		t.Fatalf("agency import of %d agencies: %v", n, err)
	}
	t.Logf("%d agencies imported in %v", n, time.Since(start).Round(time.Millisecond))
	if want := fmt.Sprintf("%d agencies imported", n); !strings.Contains(out, want) {
		t.Errorf("agency import printed %q, want %q", out, want)
	}
	if o := h.Daemon.Hub().Overview(); o.Total != n+1 || o.Pilot != n+1 {
		t.Errorf("overview after the import = %+v, want %d agencies at pilot", o, n+1)
	}
}
