package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/unicode/norm"
	"google.golang.org/protobuf/encoding/protojson"

	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

func TestAttachmentFileNamesOn(t *testing.T) {
	hoSo := "hồ sơ.pdf"
	tests := []struct {
		name    string
		names   []string
		linux   []string
		windows []string // nil: as linux
	}{
		{"ndxp's own files and their old temporary names",
			[]string{"recall.json.tmp", "HEADER.JSON.TMP", "Recall.Json", "header.json"},
			[]string{"attachment-0", "attachment-1", "attachment-2", "attachment-3"}, nil},
		{"other json names are ordinary",
			[]string{"document.json", "recall.json.bak", ".recall.json.tmp"},
			[]string{"document.json", "recall.json.bak", ".recall.json.tmp"}, nil},
		{"bidi and invisible characters",
			[]string{"a\u202efdp.exe", "scan\u200b.pdf", "x\u2066y.pdf", "soft\u00adhyphen.pdf", "bom\ufeff.pdf"},
			[]string{"attachment-0", "attachment-1", "attachment-2", "attachment-3", "attachment-4"}, nil},
		{"Windows devices, everywhere",
			[]string{"CON", "con.txt", "Nul.tar.gz", "com1.doc", "LPT9", "aux .txt", "conin$", "COM¹.pdf"},
			[]string{"attachment-0", "attachment-1", "attachment-2", "attachment-3", "attachment-4", "attachment-5", "attachment-6", "attachment-7"}, nil},
		{"names that only look like devices",
			[]string{"CONSOLE.txt", "com10.txt", "com.pdf", "nul-list.xlsx", "lpt.doc"},
			[]string{"CONSOLE.txt", "com10.txt", "com.pdf", "nul-list.xlsx", "lpt.doc"}, nil},
		{"trailing dot or space",
			[]string{"a.pdf.", "b.pdf ", "c.pdf"},
			[]string{"attachment-0", "attachment-1", "c.pdf"}, nil},
		{"characters Windows cannot store",
			[]string{"Báo cáo: tháng 9.pdf", "a?b.pdf", `say "hi".txt`, "a<b>|c*.doc"},
			[]string{"Báo cáo: tháng 9.pdf", "a?b.pdf", `say "hi".txt`, "a<b>|c*.doc"},
			[]string{"attachment-0", "attachment-1", "attachment-2", "attachment-3"}},
		{"case and Unicode twins",
			[]string{"Scan.pdf", "SCAN.PDF", "k.pdf", "\u212a.pdf", hoSo, norm.NFD.String(hoSo), norm.NFD.String("Hồ Sơ.PDF")},
			[]string{"Scan.pdf", "attachment-1", "k.pdf", "attachment-3", hoSo, "attachment-5", "attachment-6"}, nil},
		{"decomposed name alone is kept as sent",
			[]string{norm.NFD.String(hoSo)},
			[]string{norm.NFD.String(hoSo)}, nil},
		{"fallback taken in another case",
			[]string{"ATTACHMENT-1", "../x"},
			[]string{"ATTACHMENT-1", "attachment-1-1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var atts []*ndxpv1.AttachmentInfo
			for _, n := range tt.names {
				atts = append(atts, &ndxpv1.AttachmentInfo{Name: n})
			}
			if diff := cmp.Diff(tt.linux, attachmentFileNamesOn(atts, "linux")); diff != "" {
				t.Errorf("linux (-want +got):\n%s", diff)
			}
			want := tt.windows
			if want == nil {
				want = tt.linux
			}
			if diff := cmp.Diff(want, attachmentFileNamesOn(atts, "windows")); diff != "" {
				t.Errorf("windows (-want +got):\n%s", diff)
			}
		})
	}
}

// recallEvent is the recall of id, as the hub pushes it.
func recallEvent(seq uint64, id, reason string) *ndxpv1.Event {
	return &ndxpv1.Event{Sequence: seq, Kind: ndxpv1.EventKind_EVENT_KIND_DOCUMENT_RECALLED, DocumentId: id, Reason: reason}
}

// TestRecallKeepsAttachments: attachments named like the files ndxp
// writes in a saved document's directory, or like its temporary files,
// survive a recall, and the recall is recorded beside them.
func TestRecallKeepsAttachments(t *testing.T) {
	dir := t.TempDir()
	h := &fakeHub{}
	names := []string{"recall.json.tmp", "document.json", "header.json.tmp", "recall.json", "quyet-dinh.pdf"}
	doc := newDoc(h, "01DOC", names...)
	r := &receiver{saver: saver{dir: dir, hub: h}, out: io.Discard, errw: io.Discard}
	ctx := context.Background()
	if err := r.handle(ctx, &ndxpv1.Event{Sequence: 1, Kind: ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED, DocumentId: "01DOC", Document: doc}); err != nil {
		t.Fatal(err)
	}
	for seq, reason := range []string{"Ban hành nhầm", "Ban hành nhầm, lần hai"} {
		if err := r.handle(ctx, recallEvent(uint64(seq+2), "01DOC", reason)); err != nil {
			t.Fatalf("recall: %v", err)
		}
	}
	want := []string{"01DOC", "01DOC/attachment-0", "01DOC/attachment-2", "01DOC/attachment-3",
		"01DOC/document.json", "01DOC/header.json", "01DOC/quyet-dinh.pdf", "01DOC/recall.json"}
	if diff := cmp.Diff(want, listDir(t, dir)); diff != "" {
		t.Errorf("files after the recalls (-want +got):\n%s", diff)
	}
	for i, file := range attachmentFileNames(doc.GetHeader().GetAttachments()) {
		got, err := os.ReadFile(filepath.Join(dir, "01DOC", file))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(h.bodies["01DOC"][i]) {
			t.Errorf("%s (attachment %q) = %q; want %q", file, names[i], got, h.bodies["01DOC"][i])
		}
	}
	checkRecall(t, filepath.Join(dir, "01DOC", recallFile), "Ban hành nhầm, lần hai")
}

// TestRecallKeepsOldLayout: a directory saved by an earlier ndxp may hold
// an attachment saved as recall.json.tmp (it was not reserved then); a
// recall must not remove it.
func TestRecallKeepsOldLayout(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "01OLD")
	if err := os.Mkdir(doc, dirMode); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"header.json": "{}", "recall.json.tmp": "tệp đính kèm", "a.pdf": "pdf"} {
		if err := os.WriteFile(filepath.Join(doc, name), []byte(body), fileMode); err != nil {
			t.Fatal(err)
		}
	}
	r := &receiver{saver: saver{dir: dir, hub: &fakeHub{}}, out: io.Discard, errw: io.Discard}
	if err := r.handle(context.Background(), recallEvent(1, "01OLD", "Ban hành nhầm")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(doc, "recall.json.tmp")); err != nil || string(got) != "tệp đính kèm" {
		t.Errorf("attachment recall.json.tmp after the recall = %q, %v; want it untouched", got, err)
	}
	want := []string{"01OLD", "01OLD/a.pdf", "01OLD/header.json", "01OLD/recall.json", "01OLD/recall.json.tmp"}
	if diff := cmp.Diff(want, listDir(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	checkRecall(t, filepath.Join(doc, recallFile), "Ban hành nhầm")
	fi, err := os.Stat(filepath.Join(doc, recallFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != fileMode {
		t.Errorf("recall.json mode = %v; want %v, as the other saved files", fi.Mode().Perm(), os.FileMode(fileMode))
	}
}

func checkRecall(t *testing.T, path, reason string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ev ndxpv1.Event
	if err := protojson.Unmarshal(data, &ev); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if ev.GetReason() != reason || !strings.Contains(ev.GetKind().String(), "RECALLED") {
		t.Errorf("%s = %v; want the recall with reason %q", path, &ev, reason)
	}
}
