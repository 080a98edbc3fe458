package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// hostile is what an agency name, a document subject or an alert may
// still hold when it was stored before the hub's text rules.
const hostile = "UBND\x1b[2J\x1b]0;owned\x07\x00\r\u009b31m\u202egnp.exe\u2066\u200b\ufeff\u00ad\u2028\U000e0001"

// checkShowable fails the test if out holds anything a terminal would act
// on or hide (LF and TAB aside).
func checkShowable(t *testing.T, what string, out []byte) {
	t.Helper()
	if !utf8.Valid(out) {
		t.Errorf("%s is not valid UTF-8:\n%q", what, out)
	}
	for i, r := range string(out) {
		if r == '\n' || r == '\t' {
			continue
		}
		if r < 0x20 || r >= 0x7f && r <= 0x9f || r == 0x2028 || r == 0x2029 || unicode.Is(unicode.Cf, r) {
			t.Errorf("%s holds U+%04X at byte %d:\n%q", what, r, i, out)
			return
		}
	}
}

func TestAgencyOutputIsSafe(t *testing.T) {
	ag := &ndxpv1.Agency{Code: "000.00.00.H41", Name: hostile, ParentCode: hostile,
		Contact:    &ndxpv1.Contact{Person: hostile, Email: hostile, Phone: hostile, Address: hostile},
		CreateTime: timestamppb.Now(), UpdateTime: timestamppb.Now()}
	for _, format := range []cli.Format{cli.FormatTable, cli.FormatJSON} {
		var out bytes.Buffer
		a := &app{stdout: &out, format: format}
		if err := a.printAgency(ag); err != nil {
			t.Fatal(err)
		}
		checkShowable(t, "agency show -o "+string(format), out.Bytes())
		if format == cli.FormatJSON {
			var v agencyView
			if err := json.Unmarshal(out.Bytes(), &v); err != nil || v.Name != hostile {
				t.Errorf("JSON decodes to name %q, %v; want the stored name", v.Name, err)
			}
		}
	}
	var out bytes.Buffer
	if err := cli.Table(&out, agencyHeader, [][]string{agencyRow(viewAgency(ag))}); err != nil {
		t.Fatal(err)
	}
	checkShowable(t, "agency list", out.Bytes())
}

func TestWatchIsSafe(t *testing.T) {
	s := &ndxpv1.Snapshot{Overview: &ndxpv1.Overview{Total: 2}, Time: timestamppb.Now(), Alerts: []*ndxpv1.Alert{
		{AgencyCode: "000.00.00.H41", AgencyName: hostile, DocumentId: hostile, Message: hostile},
	}}
	var out bytes.Buffer
	drawWatch(&out, s, watchView{overviewView: viewOverview(s.GetOverview())})
	const clear = "\x1b[H\x1b[2J" // the screen is ours to clear
	if !strings.HasPrefix(out.String(), clear) {
		t.Fatalf("watch does not start by clearing the screen: %q", out.String())
	}
	checkShowable(t, "overview --watch", out.Bytes()[len(clear):])
	if !strings.Contains(out.String(), `UBND\x1b[2J`) {
		t.Errorf("the alert is not shown escaped:\n%s", out.String())
	}
}

func TestPurgeListIsSafe(t *testing.T) {
	var out bytes.Buffer
	a := &app{stdout: &out}
	if err := printPurge(a, purgeView{Documents: []purgedDocView{{ID: "01DOC", Sender: "000.00.00.G22", Subject: hostile}}}); err != nil {
		t.Fatal(err)
	}
	checkShowable(t, "purge", out.Bytes())
}

func TestTraceIsSafe(t *testing.T) {
	tr := &ndxpv1.GetTraceResponse{
		Document: &ndxpv1.Document{Id: "01DOC", SenderCode: "000.00.00.G22", SenderName: hostile,
			Header: &ndxpv1.DocumentHeader{Subject: hostile, Reference: hostile}},
		Recipients: []*ndxpv1.RecipientTrace{{RecipientCode: "000.00.00.H41", RecipientName: hostile, Status: "02",
			StatusText: hostile, Steps: []*ndxpv1.TraceStep{{Code: "02", Description: hostile, Reason: hostile, Staff: hostile}}}},
	}
	var out bytes.Buffer
	if err := cli.PrintTrace(&out, tr); err != nil {
		t.Fatal(err)
	}
	checkShowable(t, "trace", out.Bytes())
	out.Reset()
	if err := writeProtoJSON(&out, tr); err != nil {
		t.Fatal(err)
	}
	checkShowable(t, "trace -o json", out.Bytes())
	var back ndxpv1.GetTraceResponse
	if err := protojson.Unmarshal(out.Bytes(), &back); err != nil || back.GetDocument().GetHeader().GetSubject() != hostile {
		t.Errorf("trace -o json decodes to subject %q, %v; want the stored subject", back.GetDocument().GetHeader().GetSubject(), err)
	}
}
