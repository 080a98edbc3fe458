package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/google/go-cmp/cmp"

	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// hostile is hubtest.Hostile inside a real text.
const hostile = "Về việc" + hubtest.Hostile

// hostileDoc is a document whose every text holds hostile.
func hostileDoc() *ndxpv1.Document {
	return &ndxpv1.Document{
		Id: "01J9Z3Q8M4K2V7X5W6T1R0S9PA", SenderCode: "000.00.00.G22", SenderName: "Văn phòng" + hostile,
		Header: &ndxpv1.DocumentHeader{
			Reference: "000.00.00.G22,2025/10/01,1" + hostile, Recipients: []string{"000.00.00.H41"},
			Number: "1" + hostile, Notation: hostile, DocumentType: hostile, Subject: hostile,
			Content:           "Kính gửi:\n\t" + hostile + "\nDòng cuối.",
			PromulgationPlace: hostile, PromulgationDate: "2025-10-01", DueDate: hostile,
			Signer:      &ndxpv1.Signer{FullName: hostile, Position: hostile, Competence: hostile},
			ResponseFor: hostile, OriginalDocumentId: hostile,
			Attachments: []*ndxpv1.AttachmentInfo{{Name: "a\u202efdp.exe", MediaType: hostile, Sha256: []byte{1, 2}}},
		},
	}
}

func TestShowIsSafe(t *testing.T) {
	var out bytes.Buffer
	a := &app{stdout: &out}
	if err := printDocument(a, hostileDoc()); err != nil {
		t.Fatal(err)
	}
	hubtest.CheckShowable(t, "ndxp show", out.Bytes())
	for _, want := range []string{
		`Về việc\x1b[2J\x1b]0;owned\x07\x00 \u009b31m\u202egnp.exe`, // the subject, escaped
		"Kính gửi:\n\tVề việc",                                      // content keeps its lines and tabs
		`a\u202efdp.exe`,                                            // attachment name
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("ndxp show does not print %q:\n%s", want, out.String())
		}
	}
}

func TestShowJSONIsSafe(t *testing.T) {
	var out bytes.Buffer
	doc := hostileDoc()
	if err := cli.ProtoJSON(&out, doc); err != nil {
		t.Fatal(err)
	}
	hubtest.CheckShowable(t, "ndxp show -o json", out.Bytes())
	var back struct {
		SenderName string `json:"sender_name"`
		Header     struct {
			Subject, Content, Notation string
			Signer                     struct {
				FullName string `json:"full_name"`
			}
			Attachments []struct{ Name string }
		}
	}
	if err := json.Unmarshal(out.Bytes(), &back); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	h := doc.GetHeader()
	got := []string{back.SenderName, back.Header.Subject, back.Header.Content, back.Header.Notation, back.Header.Signer.FullName,
		back.Header.Attachments[0].Name}
	want := []string{doc.GetSenderName(), h.GetSubject(), h.GetContent(), h.GetNotation(), h.GetSigner().GetFullName(), h.GetAttachments()[0].GetName()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("escaped JSON decodes to other texts (-want +got):\n%s", diff)
	}
}

func TestListIsSafe(t *testing.T) {
	docs := []*ndxpv1.DocumentSummary{{Document: hostileDoc(), Recipients: []*ndxpv1.RecipientTrace{
		{RecipientCode: "000.00.00.H41", Status: "02", StatusText: hostile}}}}
	for _, sent := range []bool{false, true} {
		var out bytes.Buffer
		a := &app{stdout: &out}
		if err := a.printSummaries(docs, sent); err != nil {
			t.Fatal(err)
		}
		hubtest.CheckShowable(t, "ndxp inbox/sent", out.Bytes())
		if n := strings.Count(out.String(), "\n"); n != 2 {
			t.Errorf("%d lines; want a header and one row:\n%s", n, out.String())
		}
	}
}

func TestReceiveLinesAreSafe(t *testing.T) {
	h := &fakeHub{}
	doc := newDoc(h, "01DOC", "a.pdf")
	doc.Header.Subject = hostile
	ctx := context.Background()
	events := []*ndxpv1.Event{
		{Sequence: 1, Kind: ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED, DocumentId: "01DOC", Document: doc},
		{Sequence: 2, Kind: ndxpv1.EventKind_EVENT_KIND_STATUS_CHANGED, DocumentId: "01SENT",
			Status: &ndxpv1.StatusReport{DocumentId: "01SENT", RecipientCode: "000.00.00.H41", Code: "02", Reason: hostile, Staff: hostile}},
		{Sequence: 3, Kind: ndxpv1.EventKind_EVENT_KIND_DOCUMENT_RECALLED, DocumentId: "01DOC", Reason: hostile},
		{Sequence: 4, Kind: ndxpv1.EventKind(99), DocumentId: "x" + hostile},
	}
	for _, asJSON := range []bool{false, true} {
		var out, errw bytes.Buffer
		r := &receiver{saver: saver{dir: t.TempDir(), hub: h}, out: &out, errw: &errw, asJSON: asJSON}
		for _, ev := range events {
			if err := r.handle(ctx, proto.Clone(ev).(*ndxpv1.Event)); err != nil {
				t.Fatalf("event %d: %v", ev.Sequence, err)
			}
		}
		hubtest.CheckShowable(t, "receive stdout", out.Bytes())
		hubtest.CheckShowable(t, "receive stderr", errw.Bytes())
		if n := strings.Count(out.String(), "\n"); n != 3 {
			t.Errorf("json=%v: %d lines; want one per event:\n%s", asJSON, n, out.String())
		}
		if asJSON {
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var ev eventLine
				if err := json.Unmarshal([]byte(l), &ev); err != nil {
					t.Fatal(err)
				}
				if ev.Subject != "" && ev.Subject != hostile || ev.Reason != "" && ev.Reason != hostile {
					t.Errorf("JSON line decodes to %+v; want the texts as the hub sent them", ev)
				}
			}
		}
	}
}
