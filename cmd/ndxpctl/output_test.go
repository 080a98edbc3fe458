package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// hostile is hubtest.Hostile inside a real text.
const hostile = "UBND" + hubtest.Hostile

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
		hubtest.CheckShowable(t, "agency show -o "+string(format), out.Bytes())
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
	hubtest.CheckShowable(t, "agency list", out.Bytes())
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
	hubtest.CheckShowable(t, "overview --watch", out.Bytes()[len(clear):])
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
	hubtest.CheckShowable(t, "purge", out.Bytes())
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
	hubtest.CheckShowable(t, "trace", out.Bytes())
	out.Reset()
	if err := cli.ProtoJSON(&out, tr); err != nil {
		t.Fatal(err)
	}
	hubtest.CheckShowable(t, "trace -o json", out.Bytes())
	var back struct {
		Document struct {
			Header struct{ Subject string }
		}
	}
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || back.Document.Header.Subject != hostile {
		t.Errorf("trace -o json decodes to subject %q, %v; want the stored subject", back.Document.Header.Subject, err)
	}
}
