package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"

	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// recallEvent is the recall of id, as the hub pushes it.
func recallEvent(seq uint64, id, reason string) *ndxpv1.Event {
	return &ndxpv1.Event{Sequence: seq, Kind: ndxpv1.EventKind_EVENT_KIND_DOCUMENT_RECALLED, DocumentId: id, Reason: reason}
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
