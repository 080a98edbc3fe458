package hub

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ndxp/ndxp/internal/store"
)

// reportCodes are the codes a recipient may report (ReportStatus).
var reportCodes = []string{"02", "03", "04", "05", "06", "15", "16"}

// transitions is the status workflow of docs/domain.md as a table: for each
// state of a delivery (its status and its recall), the codes a recipient
// may report. The rules: 01 (the arrival, recorded by the hub) before
// anything; statuses move forward and may skip steps; 02 only right after
// 01; nothing after 02 or 06 except the recall flow; 15 and 16 answer a
// pending recall (13) and nothing else; a document withdrawn or whose
// recall was accepted (15) takes nothing more; one whose recall was
// refused (16) stays with the recipient, whose work goes on.
var transitions = []struct {
	status, recall string
	allowed        string // space-separated codes
}{
	{"", "", ""},
	{"", "13", "15 16"},
	{"", "15", ""},
	{"", "16", ""},
	{"", "withdrawn", ""},

	{"01", "", "02 03 04 05 06"},
	{"01", "13", "15 16"},
	{"01", "15", ""},
	{"01", "16", "02 03 04 05 06"},
	{"01", "withdrawn", ""},

	{"02", "", ""},
	{"02", "13", "15 16"},
	{"02", "15", ""},
	{"02", "16", ""},
	{"02", "withdrawn", ""},

	{"03", "", "04 05 06"},
	{"03", "13", "15 16"},
	{"03", "15", ""},
	{"03", "16", "04 05 06"},
	{"03", "withdrawn", ""},

	{"04", "", "05 06"},
	{"04", "13", "15 16"},
	{"04", "15", ""},
	{"04", "16", "05 06"},
	{"04", "withdrawn", ""},

	{"05", "", "06"},
	{"05", "13", "15 16"},
	{"05", "15", ""},
	{"05", "16", "06"},
	{"05", "withdrawn", ""},

	{"06", "", ""},
	{"06", "13", "15 16"},
	{"06", "15", ""},
	{"06", "16", ""},
	{"06", "withdrawn", ""},
}

// TestCheckTransition runs every code against every state of a delivery.
func TestCheckTransition(t *testing.T) {
	for _, tt := range transitions {
		allowed := strings.Fields(tt.allowed)
		for _, code := range reportCodes {
			name := fmt.Sprintf("status %q recall %q code %s", tt.status, tt.recall, code)
			err := checkReport(Status(tt.status), RecallState(tt.recall), Status(code), "lý do")
			if slices.Contains(allowed, code) {
				if err != nil {
					t.Errorf("%s: %v, want allowed", name, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s: allowed, want refused", name)
				continue
			}
			checkErr(t, name, err, ErrPrecondition, "code")
		}
	}
}

// TestCheckTransitionSaysWhy: a refusal names the current status and the
// rule, so the recipient's operator knows what to do.
func TestCheckTransitionSaysWhy(t *testing.T) {
	tests := []struct {
		d    Delivery
		code string
		want string
	}{
		{Delivery{}, "03", "acknowledge the arrival first"},
		{Delivery{}, "03", "none (arrival not yet acknowledged)"},
		{Delivery{Status: "01"}, "15", "no recall was requested"},
		{Delivery{Status: "01", Recall: "16"}, "15", "already answered or withdrawn (16)"},
		{Delivery{Status: "01", Recall: "withdrawn"}, "16", "already answered or withdrawn (withdrawn)"},
		{Delivery{Status: "01", Recall: "withdrawn"}, "03", "the document was recalled"},
		{Delivery{Status: "03", Recall: "15"}, "04", "the document was recalled"},
		{Delivery{Status: "03", Recall: "13"}, "04", "answer the recall first with 15 (accept) or 16 (refuse)"},
		{Delivery{Status: "02"}, "03", "02 is final"},
		{Delivery{Status: "06"}, "06", "06 is final"},
		{Delivery{Status: "03"}, "02", "02 (refused) is only possible on receipt, right after 01"},
		{Delivery{Status: "05"}, "04", "statuses move forward only"},
		{Delivery{Status: "05"}, "04", "the current status is 05 (processing)"},
		{Delivery{Status: "04"}, "04", "statuses move forward only"},
	}
	for _, tt := range tests {
		err := checkReport(tt.d.Status, tt.d.Recall, Status(tt.code), "lý do")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("checkTransition(%+v, %s) = %v, want a message with %q", tt.d, tt.code, err, tt.want)
		}
	}
}

// reach sends a document to codeH41 and drives its delivery there,
// through the hub's API, to status and to answer: its recall state
// ("" none, "13" asked, "15" or "16" answered, "withdrawn").
func reach(t testing.TB, h *Hub, status, answer string) string {
	t.Helper()
	id := send(t, h, "Văn bản "+status+" "+answer, []string{codeH41})
	if answer == "withdrawn" {
		if status != "" {
			t.Fatalf("a document is withdrawn only before its arrival is acknowledged, not at %q", status)
		}
		recall(t, h, id)
		return id
	}
	if status != "" {
		ack(t, h, id, codeH41)
	}
	if status != "" && status != "01" {
		report(t, h, id, codeH41, status)
	}
	if answer != "" {
		recall(t, h, id)
		if answer != "13" {
			report(t, h, id, codeH41, answer)
		}
	}
	return id
}

// TestReportStatusFollowsTheTable reaches every state a delivery can be in
// through the API and reports every code from it: the outcome is the
// table's, and a refused report changes nothing.
func TestReportStatusFollowsTheTable(t *testing.T) {
	h, _ := retentionHub(t, nil)
	for _, tt := range transitions {
		reachable := (tt.status == "" && (tt.recall == "" || tt.recall == "withdrawn")) ||
			(tt.status != "" && tt.recall != "withdrawn")
		if !reachable {
			continue
		}
		allowed := strings.Fields(tt.allowed)
		for _, code := range reportCodes {
			name := fmt.Sprintf("status %q recall %q code %s", tt.status, tt.recall, code)
			id := reach(t, h, tt.status, tt.recall)
			before := delivery(t, h, id, codeH41)
			reason := ""
			if code == "02" || code == "16" {
				reason = "không thuộc thẩm quyền"
			}
			rep, err := h.ReportStatus(t.Context(), agency(codeH41), StatusRequest{DocID: id, Code: Status(code), Reason: reason})
			after := delivery(t, h, id, codeH41)
			switch {
			case tt.recall == "withdrawn" || tt.recall == "15":
				// The recipient no longer has the document: it is not found.
				checkErr(t, name, err, ErrNotFound, "document_id")
			case slices.Contains(allowed, code):
				if err != nil {
					t.Errorf("%s: %v, want allowed", name, err)
					continue
				}
				if string(rep.Code) != code || rep.Recipient != codeH41 || rep.DocID != id || rep.Reason != reason {
					t.Errorf("%s: report %+v", name, rep)
				}
				gotState := string(after.Status)
				if code == "15" || code == "16" {
					gotState = string(after.Recall)
				}
				if gotState != code {
					t.Errorf("%s: delivery %+v after the report", name, after)
				}
				continue
			default:
				checkErr(t, name, err, ErrPrecondition, "code")
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("%s: a refused report changed the delivery (-before +after):\n%s", name, diff)
			}
		}
	}
}

// delivery reads the delivery of id at recipient, as an admin sees it.
func delivery(t testing.TB, h *Hub, id, recipient string) Delivery {
	t.Helper()
	v, err := h.Trace(t.Context(), admin, id)
	if err != nil {
		t.Fatalf("Trace(%s): %v", id, err)
	}
	for _, d := range v.Deliveries {
		if d.Recipient == recipient {
			return d.Delivery
		}
	}
	t.Fatalf("document %s has no delivery to %s", id, recipient)
	return Delivery{}
}

// TestReportStatusRefusals covers what ReportStatus refuses whatever the
// state: the code, the reason and staff texts, and who asks.
func TestReportStatusRefusals(t *testing.T) {
	h, _ := retentionHub(t, nil)
	id := send(t, h, "Báo cáo trạng thái", []string{codeH41})
	ack(t, h, id, codeH41)
	tests := []struct {
		name          string
		p             Principal
		id            string
		code          string
		reason, staff string
		wantKind      error
		wantField     string
	}{
		{"01 is the hub's", agency(codeH41), id, "01", "", "", ErrInvalid, "code"},
		{"13 is the sender's", agency(codeH41), id, "13", "", "", ErrInvalid, "code"},
		{"an unconfirmed code", agency(codeH41), id, "07", "", "", ErrInvalid, "code"},
		{"no code", agency(codeH41), id, "", "", "", ErrInvalid, "code"},
		{"02 without a reason", agency(codeH41), id, "02", "", "", ErrInvalid, "reason"},
		{"02 with a blank reason", agency(codeH41), id, "02", " \t ", "", ErrInvalid, "reason"},
		{"16 without a reason", agency(codeH41), id, "16", "", "", ErrInvalid, "reason"},
		{"a reason too long", agency(codeH41), id, "03", strings.Repeat("x", MaxSubjectLen+1), "", ErrInvalid, "reason"},
		{"a reason with a control character", agency(codeH41), id, "03", "lý do\x07", "", ErrInvalid, "reason"},
		{"staff too long", agency(codeH41), id, "03", "", strings.Repeat("x", MaxShortFieldLen+1), ErrInvalid, "staff"},
		{"an admin", admin, id, "03", "", "", ErrPermission, ""},
		{"the sender", agency(codeG22), id, "03", "", "", ErrPermission, ""},
		{"not a party", agency(codeH14), id, "03", "", "", ErrNotFound, "document_id"},
		{"a malformed id", agency(codeH41), "01HZZZ", "03", "", "", ErrInvalid, "document_id"},
		{"an unknown id", agency(codeH41), h.ids.next(time.Now()), "03", "", "", ErrNotFound, "document_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.ReportStatus(t.Context(), tt.p, StatusRequest{DocID: tt.id, Code: Status(tt.code), Reason: tt.reason, Staff: tt.staff})
			checkErr(t, "ReportStatus", err, tt.wantKind, tt.wantField)
		})
	}
	if d := delivery(t, h, id, codeH41); d.Status != "01" || len(d.Steps) != 2 {
		t.Errorf("delivery after the refusals: %+v, want 01 with two steps", d)
	}
	h.Drain()
	_, err := h.ReportStatus(t.Context(), agency(codeH41), StatusRequest{DocID: id, Code: Status("03")})
	checkErr(t, "ReportStatus while draining", err, ErrUnavailable, "")
}

// TestWorkflow follows one document from its send to completion at two
// recipients: the trace each party sees and the status events the sender
// gets, in order, with the times of the hub's clock.
func TestWorkflow(t *testing.T) {
	h, clock := retentionHub(t, nil)
	t0 := clock.Now()
	id := send(t, h, "Quy trình", []string{codeH41, codeH14})
	step := func() time.Time { clock.Advance(time.Minute); return clock.Now() }

	t1 := step()
	ack(t, h, id, codeH41)
	t2 := step()
	if _, err := h.ReportStatus(t.Context(), agency(codeH41), StatusRequest{DocID: id, Code: Status("03"), Staff: "Nguyễn Văn A"}); err != nil {
		t.Fatal(err)
	}
	t3 := step()
	if _, err := h.ReportStatus(t.Context(), agency(codeH41), StatusRequest{DocID: id, Code: Status("05"), Reason: " đang xem xét "}); err != nil { // skips 04
		t.Fatal(err)
	}
	t4 := step()
	report(t, h, id, codeH41, "06")
	t5 := step()
	ack(t, h, id, codeH14)
	t6 := step()
	report(t, h, id, codeH14, "02")

	wantH41 := Delivery{Recipient: codeH41, Status: "06", Delivered: &t1, Steps: []Step{
		{Time: t0, What: "queued"},
		{Time: t1, Code: "01", What: "delivered: arrival acknowledged by the recipient"},
		{Time: t2, Code: "03", What: "accepted", Staff: "Nguyễn Văn A"},
		{Time: t3, Code: "05", What: "processing", Reason: "đang xem xét"},
		{Time: t4, Code: "06", What: "completed"},
	}}
	wantH14 := Delivery{Recipient: codeH14, Status: "02", Delivered: &t5, Steps: []Step{
		{Time: t0, What: "queued"},
		{Time: t5, Code: "01", What: "delivered: arrival acknowledged by the recipient"},
		{Time: t6, Code: "02", What: "refused", Reason: "không thuộc thẩm quyền"},
	}}
	tests := []struct {
		p    Principal
		want []DeliveryView
	}{
		{agency(codeG22), []DeliveryView{{wantH41, "UBND tỉnh Nghệ An"}, {wantH14, "UBND tỉnh Cao Bằng"}}},
		{admin, []DeliveryView{{wantH41, "UBND tỉnh Nghệ An"}, {wantH14, "UBND tỉnh Cao Bằng"}}},
		{agency(codeH41), []DeliveryView{{wantH41, "UBND tỉnh Nghệ An"}}},
		{agency(codeH14), []DeliveryView{{wantH14, "UBND tỉnh Cao Bằng"}}},
	}
	for _, tt := range tests {
		v, err := h.Trace(t.Context(), tt.p, id)
		if err != nil {
			t.Fatalf("Trace by %s: %v", tt.p, err)
		}
		if diff := cmp.Diff(tt.want, v.Deliveries); diff != "" {
			t.Errorf("trace seen by %s (-want +got):\n%s", tt.p, diff)
		}
		if v.SenderName != "Văn phòng Chính phủ" || v.Doc.ID != id {
			t.Errorf("trace seen by %s: document %s from %q", tt.p, v.Doc.ID, v.SenderName)
		}
		g, err := h.GetDocument(t.Context(), tt.p, id)
		if err != nil || g.Deliveries != nil {
			t.Errorf("GetDocument by %s: %d deliveries, %v; want none (they are Trace's)", tt.p, len(g.Deliveries), err)
		}
	}
	_, err := h.Trace(t.Context(), agency(codeH47), id)
	checkErr(t, "Trace by a stranger", err, ErrNotFound, "document_id")

	type status struct{ recipient, code string }
	var got []status
	for _, ev := range queueOf(t, h, codeG22) {
		if ev.Kind != EventStatus || ev.DocID != id || ev.Status == nil {
			t.Fatalf("sender's queue holds %+v, want status events of %s", ev, id)
		}
		got = append(got, status{ev.Status.Recipient, string(ev.Status.Code)})
	}
	want := []status{{codeH41, "01"}, {codeH41, "03"}, {codeH41, "05"}, {codeH41, "06"}, {codeH14, "01"}, {codeH14, "02"}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(status{})); diff != "" {
		t.Errorf("status events queued for the sender (-want +got):\n%s", diff)
	}
	if got := h.metrics.Deliveries.Load(); got != 2 {
		t.Errorf("deliveries counted: %d, want 2", got)
	}
}

// TestAcknowledge: acknowledging removes events from the caller's own
// queue only; an arrival records 01 once and tells the sender once.
func TestAcknowledge(t *testing.T) {
	h, _ := retentionHub(t, nil)
	id := send(t, h, "Xác nhận", []string{codeH41, codeH14})
	arrival := queueOf(t, h, codeH41)[0].Seq
	theirs := queueOf(t, h, codeH14)[0].Seq

	tests := []struct {
		name        string
		p           Principal
		seqs        []uint64
		wantRemoved int
		wantKind    error
	}{
		{"too many at once", agency(codeH41), make([]uint64, MaxAckBatch+1), 0, ErrInvalid},
		{"an admin", admin, []uint64{arrival}, 0, ErrPermission},
		{"nothing", agency(codeH41), nil, 0, nil},
		{"unknown sequences", agency(codeH41), []uint64{0, 999999}, 0, nil},
		{"another agency's event", agency(codeH41), []uint64{theirs}, 0, nil},
		{"the arrival, twice in one call", agency(codeH41), []uint64{arrival, arrival}, 1, nil},
		{"the arrival again", agency(codeH41), []uint64{arrival}, 0, nil},
	}
	for _, tt := range tests {
		n, err := h.Acknowledge(t.Context(), tt.p, tt.seqs)
		if tt.wantKind != nil {
			checkErr(t, tt.name, err, tt.wantKind, "")
			continue
		}
		if err != nil || n != tt.wantRemoved {
			t.Errorf("%s: Acknowledge = %d, %v; want %d, nil", tt.name, n, err, tt.wantRemoved)
		}
	}
	if d := delivery(t, h, id, codeH41); d.Status != "01" || len(d.Steps) != 2 || d.QueueSeq != 0 || d.Delivered == nil {
		t.Errorf("delivery at %s: %+v, want 01 recorded once", codeH41, d)
	}
	if d := delivery(t, h, id, codeH14); d.Status != "" || d.QueueSeq != theirs {
		t.Errorf("delivery at %s: %+v, want still queued", codeH14, d)
	}
	statuses := queueOf(t, h, codeG22)
	if len(statuses) != 1 || statuses[0].Status.Code != "01" || statuses[0].Status.Recipient != codeH41 {
		t.Fatalf("sender's queue: %+v, want one 01 from %s", statuses, codeH41)
	}
	if pend := memoryBacklog(h.backlog); len(pend[codeH41]) != 0 || len(pend[codeH14]) != 1 {
		t.Errorf("backlog %v, want only %s waiting", pend, codeH14)
	}
	// The sender acknowledges the status event: it goes, and nothing else changes.
	if n, err := h.Acknowledge(t.Context(), agency(codeG22), []uint64{statuses[0].Seq}); err != nil || n != 1 {
		t.Errorf("sender acknowledges its status event: %d, %v; want 1", n, err)
	}
	if evs := queueOf(t, h, codeG22); len(evs) != 0 {
		t.Errorf("sender's queue after its acknowledgement: %+v", evs)
	}
	if got := h.metrics.Deliveries.Load(); got != 1 {
		t.Errorf("deliveries counted: %d, want 1", got)
	}
}

// TestAcknowledgeOlderEvents: an arrival queued before events named their
// sender still tells the sender; an arrival found again in the queue
// after its 01 (a repeated entry) is removed without a second 01.
func TestAcknowledgeOlderEvents(t *testing.T) {
	h, _ := retentionHub(t, nil)
	id := send(t, h, "Sự kiện cũ", []string{codeH41})
	ev := queueOf(t, h, codeH41)[0]
	older := ev
	older.Sender, older.Size = "", 0
	rewrite := func(e Event) {
		t.Helper()
		if err := h.st.Update(t.Context(), func(tx store.Tx) error {
			return putRecord(tx, store.BucketQueue, queueKey(codeH41, e.Seq), e)
		}); err != nil {
			t.Fatal(err)
		}
	}
	rewrite(older)
	if n, err := h.Acknowledge(t.Context(), agency(codeH41), []uint64{ev.Seq}); err != nil || n != 1 {
		t.Fatalf("Acknowledge = %d, %v; want 1", n, err)
	}
	evs := queueOf(t, h, codeG22)
	if len(evs) != 1 || evs[0].Status.Code != "01" || evs[0].DocID != id {
		t.Fatalf("sender's queue: %+v, want the 01 of %s", evs, id)
	}
	rewrite(ev)
	if n, err := h.Acknowledge(t.Context(), agency(codeH41), []uint64{ev.Seq}); err != nil || n != 1 {
		t.Fatalf("Acknowledge of the repeated entry = %d, %v; want 1", n, err)
	}
	if got := queueOf(t, h, codeG22); len(got) != 1 {
		t.Errorf("sender's queue after the repeated entry: %d events, want still 1", len(got))
	}
	d := delivery(t, h, id, codeH41)
	if diff := cmp.Diff([]string{"", "01"}, stepCodes(d), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

func stepCodes(d Delivery) []string {
	var out []string
	for _, s := range d.Steps {
		out = append(out, string(s.Code))
	}
	return out
}
