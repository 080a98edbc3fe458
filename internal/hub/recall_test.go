package hub

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const codeH17 = "000.00.00.H17" // UBND tỉnh Hải Dương

// TestRecall recalls a document from four recipients in every state the
// recall flow knows and checks what each party sees afterwards: the
// sender and admins everything; a recipient whose copy was withdrawn
// before it took it, or who accepted the recall (15), nothing but a
// stripped line in its list; one who refused (16) or has not answered
// (13) keeps the document.
func TestRecall(t *testing.T) {
	h, clock := retentionHub(t, nil)
	mustCreate(t, h, codeH47, "UBND tỉnh Quảng Nam", StagePilot)
	mustCreate(t, h, codeH17, "UBND tỉnh Hải Dương", StagePilot)
	att := body(300, 4)
	recipients := []string{codeH41, codeH14, codeH47, codeH17}
	id := send(t, h, "Công văn ban hành nhầm", recipients, att)
	ack(t, h, id, codeH41, codeH47, codeH17) // codeH14 has not taken it
	report(t, h, id, codeH17, "03")
	sent, err := h.GetDocument(t.Context(), agency(codeG22), id)
	if err != nil {
		t.Fatal(err)
	}

	clock.Advance(time.Hour)
	recalledAt := clock.Now()
	withdrawn, asked, err := h.Recall(t.Context(), agency(codeG22), id, "  ban hành nhầm  ")
	if err != nil {
		t.Fatalf("Recall: %v", err)
	}
	if diff := cmp.Diff([]string{codeH14}, withdrawn); diff != "" {
		t.Errorf("withdrawn (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{codeH41, codeH47, codeH17}, asked); diff != "" {
		t.Errorf("asked (-want +got):\n%s", diff)
	}
	if evs := queueOf(t, h, codeH14); len(evs) != 0 {
		t.Errorf("the withdrawn recipient's queue: %+v, want empty", evs)
	}
	for _, r := range asked {
		evs := queueOf(t, h, r)
		if len(evs) != 1 || evs[0].Kind != EventRecalled || evs[0].DocID != id || evs[0].Reason != "ban hành nhầm" {
			t.Errorf("queue of %s: %+v, want one recall event with its reason", r, evs)
		}
	}
	if pend := memoryBacklog(h.backlog); len(pend) != 0 {
		t.Errorf("backlog after the recall: %v, want empty", pend)
	}
	clock.Advance(time.Minute)
	report(t, h, id, codeH41, "15")
	report(t, h, id, codeH47, "16")

	wantDoc := sent.Doc
	wantDoc.Recalled, wantDoc.RecallReason = &recalledAt, "ban hành nhầm"
	stripped := Document{ID: id, Sender: codeG22, Created: sent.Doc.Created, Recalled: &recalledAt, RecallReason: "ban hành nhầm",
		Header: Header{Reference: sent.Doc.Header.Reference}}
	tests := []struct {
		name     string
		p        Principal
		sees     bool     // GetDocument, OpenAttachment and Trace succeed
		traced   []string // recipients in its trace
		wantList *Document
		recall   string // its delivery's recall state, in its list
	}{
		{"the sender", agency(codeG22), true, recipients, &wantDoc, ""},
		{"an admin", admin, true, recipients, nil, ""},
		{"accepted the recall (15)", agency(codeH41), false, nil, &stripped, "15"},
		{"withdrawn before it took it", agency(codeH14), false, nil, &stripped, "withdrawn"},
		{"refused the recall (16)", agency(codeH47), true, []string{codeH47}, &wantDoc, "16"},
		{"has not answered (13)", agency(codeH17), true, []string{codeH17}, &wantDoc, "13"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := h.GetDocument(t.Context(), tt.p, id)
			_, attErr := readAttachment(t, h, tt.p, id, 0)
			tr, trErr := h.Trace(t.Context(), tt.p, id)
			if !tt.sees {
				checkErr(t, "GetDocument", err, ErrNotFound, "document_id")
				checkErr(t, "OpenAttachment", attErr, ErrNotFound, "document_id")
				checkErr(t, "Trace", trErr, ErrNotFound, "document_id")
			} else {
				if err != nil || attErr != nil || trErr != nil {
					t.Fatalf("GetDocument, OpenAttachment, Trace: %v, %v, %v", err, attErr, trErr)
				}
				if diff := cmp.Diff(wantDoc, v.Doc); diff != "" {
					t.Errorf("document (-want +got):\n%s", diff)
				}
				var traced []string
				for _, d := range tr.Deliveries {
					traced = append(traced, d.Recipient)
				}
				if diff := cmp.Diff(tt.traced, traced); diff != "" {
					t.Errorf("recipients traced (-want +got):\n%s", diff)
				}
			}
			if tt.wantList == nil {
				return
			}
			list := h.ListReceived
			if tt.p.Name == codeG22 {
				list = h.ListSent
			}
			docs, _, err := list(t.Context(), tt.p, ListFilter{}, 0, "")
			if err != nil || len(docs) != 1 {
				t.Fatalf("list: %d documents, %v; want 1", len(docs), err)
			}
			if diff := cmp.Diff(*tt.wantList, docs[0].Doc); diff != "" {
				t.Errorf("listed document (-want +got):\n%s", diff)
			}
			if tt.recall != "" {
				if len(docs[0].Deliveries) != 1 || string(docs[0].Deliveries[0].Recall) != tt.recall {
					t.Errorf("listed deliveries %+v, want its own with recall %q", docs[0].Deliveries, tt.recall)
				}
			}
		})
	}

	// The sender hears each answer, after the arrivals and the 03.
	var codes []string
	for _, ev := range queueOf(t, h, codeG22) {
		codes = append(codes, ev.Status.Recipient+" "+string(ev.Status.Code))
	}
	want := []string{codeH41 + " 01", codeH47 + " 01", codeH17 + " 01", codeH17 + " 03", codeH41 + " 15", codeH47 + " 16"}
	if diff := cmp.Diff(want, codes); diff != "" {
		t.Errorf("status events for the sender (-want +got):\n%s", diff)
	}
	// Who refused the recall goes on with its work; who has not answered
	// must answer first.
	report(t, h, id, codeH47, "03")
	_, err = h.ReportStatus(t.Context(), agency(codeH17), StatusRequest{DocID: id, Code: Status("04")})
	checkErr(t, "04 before answering the recall", err, ErrPrecondition, "code")
}

// TestRecallRefusals covers who may recall what, and when.
func TestRecallRefusals(t *testing.T) {
	h, _ := retentionHub(t, nil)
	id := send(t, h, "Thu hồi", []string{codeH41})
	again := send(t, h, "Thu hồi hai lần", []string{codeH41})
	recall(t, h, again)
	tests := []struct {
		name      string
		p         Principal
		id        string
		reason    string
		wantKind  error
		wantField string
	}{
		{"no reason", agency(codeG22), id, "  ", ErrInvalid, "reason"},
		{"a reason too long", agency(codeG22), id, string(bytes.Repeat([]byte("x"), MaxSubjectLen+1)), ErrInvalid, "reason"},
		{"a recipient", agency(codeH41), id, "lý do", ErrPermission, ""},
		{"an admin", admin, id, "lý do", ErrPermission, ""},
		{"a stranger", agency(codeH14), id, "lý do", ErrNotFound, "document_id"},
		{"a malformed id", agency(codeG22), "not-an-id", "lý do", ErrInvalid, "document_id"},
		{"an unknown id", agency(codeG22), h.ids.next(time.Now()), "lý do", ErrNotFound, "document_id"},
		{"recalled already", agency(codeG22), again, "lý do", ErrPrecondition, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := h.Recall(t.Context(), tt.p, tt.id, tt.reason)
			checkErr(t, "Recall", err, tt.wantKind, tt.wantField)
		})
	}
	if d := delivery(t, h, id, codeH41); d.Recall != "" || d.QueueSeq == 0 {
		t.Errorf("delivery after refused recalls: %+v, want untouched", d)
	}
}

// TestRecallThenAcknowledge: an arrival withdrawn by a recall cannot be
// acknowledged any more (its queue entry is gone): it is never delivered,
// and the sender hears nothing of it.
func TestRecallThenAcknowledge(t *testing.T) {
	h, _ := retentionHub(t, nil)
	id := send(t, h, "Thu hồi rồi xác nhận", []string{codeH41})
	seq := queueOf(t, h, codeH41)[0].Seq
	recall(t, h, id)
	if n, err := h.Acknowledge(t.Context(), agency(codeH41), []uint64{seq}); err != nil || n != 0 {
		t.Errorf("acknowledging a withdrawn arrival: %d, %v; want 0, nil", n, err)
	}
	if d := delivery(t, h, id, codeH41); d.Status != "" || d.Recall != "withdrawn" {
		t.Errorf("delivery %+v, want withdrawn, never delivered", d)
	}
	if evs := queueOf(t, h, codeG22); len(evs) != 0 {
		t.Errorf("the sender was told %+v about a withdrawn document", evs)
	}
}
