package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// fakeHub serves documents from memory and counts fetches.
type fakeHub struct {
	mu      sync.Mutex
	docs    map[string]*ndxpv1.Document
	bodies  map[string][][]byte // by document id, by attachment index
	fail    error               // Fetch fails with it after writing half
	fetches int
}

func (h *fakeHub) Document(_ context.Context, id string) (*ndxpv1.Document, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.docs[id]
	if !ok {
		return nil, fmt.Errorf("document %s not found", id)
	}
	return d, nil
}

func (h *fakeHub) FetchAttachment(_ context.Context, doc *ndxpv1.Document, index int, w io.Writer) (int64, error) {
	id := doc.GetId()
	h.mu.Lock()
	h.fetches++
	b := h.bodies[id][index]
	fail := h.fail
	h.mu.Unlock()
	if fail != nil {
		n, _ := w.Write(b[:len(b)/2])
		return int64(n), fail
	}
	n, err := w.Write(b)
	return int64(n), err
}

// newDoc makes a document with attachments named names, whose bytes are
// "<name>#<index>".
func newDoc(h *fakeHub, id string, names ...string) *ndxpv1.Document {
	d := &ndxpv1.Document{
		Id: id, SenderCode: "000.00.00.G22", SenderName: "Văn phòng Chính phủ",
		CreateTime: timestamppb.Now(),
		Header: &ndxpv1.DocumentHeader{
			Reference: "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT", Recipients: []string{"000.00.00.H41"},
			Number: "7816", Notation: "VPCP-TTĐT", Subject: "Về việc\ttriển khai\nTrục liên thông",
		},
	}
	var bodies [][]byte
	for i, n := range names {
		b := []byte(fmt.Sprintf("%s#%d", n, i))
		bodies = append(bodies, b)
		d.Header.Attachments = append(d.Header.Attachments, &ndxpv1.AttachmentInfo{Name: n, Size: int64(len(b))})
	}
	if h.docs == nil {
		h.docs, h.bodies = map[string]*ndxpv1.Document{}, map[string][][]byte{}
	}
	h.docs[id], h.bodies[id] = d, bodies
	return d
}

func TestAttachmentFileNames(t *testing.T) {
	long := strings.Repeat("a", 252) + ".pdf"
	tests := []struct {
		name  string
		names []string
		want  []string
	}{
		{"plain", []string{"quyet-dinh.pdf", "phụ lục 1.xlsx"}, []string{"quyet-dinh.pdf", "phụ lục 1.xlsx"}},
		{"paths", []string{"../../etc/passwd", "a/b.pdf", `C:\x.pdf`, "/abs"},
			[]string{"attachment-0", "attachment-1", "attachment-2", "attachment-3"}},
		{"dots and empty", []string{".", "..", ""}, []string{"attachment-0", "attachment-1", "attachment-2"}},
		{"reserved", []string{"header.json", "HEADER.JSON", "recall.json"}, []string{"attachment-0", "attachment-1", "attachment-2"}},
		{"duplicates", []string{"scan.pdf", "scan.pdf", "Scan.PDF"}, []string{"scan.pdf", "attachment-1", "attachment-2"}},
		{"fallback taken", []string{"attachment-1", "../x"}, []string{"attachment-1", "attachment-1-1"}},
		{"control characters", []string{"a\x00b", "line\nbreak.pdf"}, []string{"attachment-0", "attachment-1"}},
		{"too long", []string{long}, []string{"attachment-0"}},
		{"hidden file is fine", []string{".ghi-chu"}, []string{".ghi-chu"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var atts []*ndxpv1.AttachmentInfo
			for _, n := range tt.names {
				atts = append(atts, &ndxpv1.AttachmentInfo{Name: n})
			}
			if diff := cmp.Diff(tt.want, attachmentFileNames(atts)); diff != "" {
				t.Errorf("file names (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckDocumentID(t *testing.T) {
	for _, id := range []string{"01J9Z3Q8M4K2V7X5W6T1R0S9PA", "doc-1_2"} {
		if err := checkDocumentID(id); err != nil {
			t.Errorf("checkDocumentID(%q) = %v; want nil", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "../x", "a/b", `a\b`, ".hidden", "x.partial", "a b", strings.Repeat("x", 129)} {
		if err := checkDocumentID(id); err == nil {
			t.Errorf("checkDocumentID(%q) = nil; want an error", id)
		}
	}
}

// listDir returns the names under dir, relative, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

func TestSave(t *testing.T) {
	dir := t.TempDir()
	h := &fakeHub{}
	doc := newDoc(h, "01DOC", "quyet-dinh.pdf", "../evil", "header.json")
	// A crash left a half-written directory behind.
	if err := os.MkdirAll(filepath.Join(dir, "01DOC.partial"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "01DOC.partial", "stale"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	s := &saver{dir: dir, hub: h}
	path, err := s.save(context.Background(), doc, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "01DOC"); path != want {
		t.Errorf("path = %q; want %q", path, want)
	}
	want := []string{"01DOC", "01DOC/attachment-1", "01DOC/attachment-2", "01DOC/header.json", "01DOC/quyet-dinh.pdf"}
	if diff := cmp.Diff(want, listDir(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	for i, name := range []string{"quyet-dinh.pdf", "attachment-1", "attachment-2"} {
		got, err := os.ReadFile(filepath.Join(path, name))
		if err != nil {
			t.Fatal(err)
		}
		if want := h.bodies["01DOC"][i]; !bytes.Equal(got, want) {
			t.Errorf("%s = %q; want %q", name, got, want)
		}
	}
	// header.json is the document, and nothing else.
	data, err := os.ReadFile(filepath.Join(path, "header.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back ndxpv1.Document
	if err := (protojson.UnmarshalOptions{}).Unmarshal(data, &back); err != nil {
		t.Fatalf("header.json: %v\n%s", err, data)
	}
	if diff := cmp.Diff(doc, &back, protocmp.Transform()); diff != "" {
		t.Errorf("header.json (-want +got):\n%s", diff)
	}
	if !bytes.Contains(data, []byte(`"sender_code"`)) || !bytes.Contains(data, []byte("\n  ")) {
		t.Errorf("header.json should use proto field names on several lines:\n%s", data)
	}

	// Saving again (a redelivery after a crash) touches nothing.
	h.fetches = 0
	if err := os.WriteFile(filepath.Join(path, "quyet-dinh.pdf"), []byte("edited by the user"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := s.save(context.Background(), doc, false); !errors.Is(err, errAlreadySaved) {
		t.Errorf("second save = %v; want errAlreadySaved", err)
	}
	if h.fetches != 0 {
		t.Errorf("second save fetched %d attachments; want none", h.fetches)
	}
	if got, _ := os.ReadFile(filepath.Join(path, "quyet-dinh.pdf")); string(got) != "edited by the user" {
		t.Errorf("second save changed the saved file: %q", got)
	}

	// replace (fetch --force) writes it afresh.
	if _, err := s.save(context.Background(), doc, true); err != nil {
		t.Fatalf("save with replace: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(path, "quyet-dinh.pdf")); string(got) != "quyet-dinh.pdf#0" {
		t.Errorf("after replace quyet-dinh.pdf = %q", got)
	}
	if diff := cmp.Diff(want, listDir(t, dir)); diff != "" {
		t.Errorf("files after replace (-want +got):\n%s", diff)
	}
}

// TestSaveFailure checks that a failed fetch leaves neither the document
// directory nor a partial one.
func TestSaveFailure(t *testing.T) {
	dir := t.TempDir()
	h := &fakeHub{}
	doc := newDoc(h, "01DOC", "a.pdf", "b.pdf")
	h.fail = errors.New("SHA-256 differs")
	s := &saver{dir: dir, hub: h}
	if _, err := s.save(context.Background(), doc, false); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("save = %v; want the fetch error", err)
	}
	if got := listDir(t, dir); len(got) != 0 {
		t.Errorf("files after a failed save: %q; want none", got)
	}
}

func TestSaveRefusesBadID(t *testing.T) {
	dir := t.TempDir()
	h := &fakeHub{}
	doc := newDoc(h, "../escape", "a.pdf")
	s := &saver{dir: filepath.Join(dir, "inbox"), hub: h}
	if err := os.Mkdir(s.dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := s.save(context.Background(), doc, false); err == nil {
		t.Fatal("save with id ../escape succeeded")
	}
	if got := listDir(t, dir); len(got) != 1 {
		t.Errorf("files: %q; want only inbox", got)
	}
}

func TestReceiverHandle(t *testing.T) {
	dir := t.TempDir()
	h := &fakeHub{}
	doc := newDoc(h, "01DOC", "a.pdf")
	var out, errw bytes.Buffer
	r := &receiver{saver: saver{dir: dir, hub: h}, out: &out, errw: &errw}
	ctx := context.Background()
	events := []*ndxpv1.Event{
		{Sequence: 1, Kind: ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED, DocumentId: "01DOC", Document: doc},
		// Redelivered after a crash: saved already, nothing printed.
		{Sequence: 1, Kind: ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED, DocumentId: "01DOC", Document: doc, Redelivery: true},
		{Sequence: 2, Kind: ndxpv1.EventKind_EVENT_KIND_STATUS_CHANGED, DocumentId: "01SENT",
			Status: &ndxpv1.StatusReport{DocumentId: "01SENT", RecipientCode: "000.00.00.H41", Code: "02", Reason: "Sai\tthẩm quyền"}},
		{Sequence: 3, Kind: ndxpv1.EventKind_EVENT_KIND_DOCUMENT_RECALLED, DocumentId: "01DOC", Reason: "Ban hành nhầm"},
		{Sequence: 4, Kind: ndxpv1.EventKind_EVENT_KIND_DOCUMENT_RECALLED, DocumentId: "01NEVER", Reason: "x"},
	}
	for _, ev := range events {
		if err := r.handle(ctx, ev); err != nil {
			t.Fatalf("event %d: %v", ev.Sequence, err)
		}
	}
	want := "01DOC\t000.00.00.G22\tVề việc triển khai Trục liên thông\n" +
		"01SENT\tstatus\t000.00.00.H41\t02\tSai thẩm quyền\n" +
		"01DOC\trecalled\tBan hành nhầm\n" +
		"01NEVER\trecalled\tx\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if !strings.Contains(errw.String(), "already saved") {
		t.Errorf("stderr = %q; want a note about the redelivery", errw.String())
	}
	if h.fetches != 1 {
		t.Errorf("fetches = %d; want 1", h.fetches)
	}
	data, err := os.ReadFile(filepath.Join(dir, "01DOC", "recall.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev ndxpv1.Event
	if err := protojson.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(events[3], &ev, protocmp.Transform()); diff != "" {
		t.Errorf("recall.json (-want +got):\n%s", diff)
	}
	wantFiles := []string{"01DOC", "01DOC/a.pdf", "01DOC/header.json", "01DOC/recall.json"}
	if diff := cmp.Diff(wantFiles, listDir(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

func TestReceiverHandleJSON(t *testing.T) {
	dir := t.TempDir()
	h := &fakeHub{}
	newDoc(h, "01UPD", "a.pdf")
	h.docs["01UPD"].Header.BusinessType = ndxpv1.BusinessType_BUSINESS_TYPE_UPDATE
	h.docs["01UPD"].Header.OriginalDocumentId = "01DOC"
	var out bytes.Buffer
	r := &receiver{saver: saver{dir: dir, hub: h}, out: &out, errw: io.Discard, asJSON: true}
	// No document in the event: the receiver asks the hub for it.
	ev := &ndxpv1.Event{Sequence: 7, Kind: ndxpv1.EventKind_EVENT_KIND_DOCUMENT_UPDATED, DocumentId: "01UPD"}
	if err := r.handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	var got eventLine
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v: %q", err, out.String())
	}
	got.Time = nil
	want := eventLine{Event: "updated", DocumentID: "01UPD", From: "000.00.00.G22", FromName: "Văn phòng Chính phủ",
		Subject: "Về việc\ttriển khai\nTrục liên thông", Reference: "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT",
		OriginalDocumentID: "01DOC", Path: filepath.Join(dir, "01UPD")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("json line (-want +got):\n%s", diff)
	}
	if strings.Count(out.String(), "\n") != 1 {
		t.Errorf("want exactly one line, got %q", out.String())
	}
}

// TestReceiverHandleFailure checks that a document that cannot be saved
// is not acknowledged.
func TestReceiverHandleFailure(t *testing.T) {
	h := &fakeHub{}
	doc := newDoc(h, "01DOC", "a.pdf")
	h.fail = errors.New("connection reset")
	var out bytes.Buffer
	r := &receiver{saver: saver{dir: t.TempDir(), hub: h}, out: &out, errw: io.Discard}
	err := r.handle(context.Background(), &ndxpv1.Event{Sequence: 1, Kind: ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED, Document: doc})
	if err == nil {
		t.Fatal("handle = nil; want the error, so that the event stays queued")
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q; want nothing for a document not saved", out.String())
	}
}
