package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

const (
	codeG22 = "000.00.00.G22"
	codeH41 = "000.00.00.H41"
	codeH14 = "000.00.00.H14"
	codeH47 = "000.00.00.H47"
)

func randomBytes(tb testing.TB, n int) []byte {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return b
}

// received collects what a subscriber's handler saw.
type received struct {
	events []*ndxpv1.Event
	files  map[string][]byte // document id / attachment name -> bytes
}

// drain subscribes until caught up, fetching every attachment of arrived documents.
func drain(t *testing.T, c *client.Client) received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := received{files: map[string][]byte{}}
	err := c.Subscribe(ctx, func(ctx context.Context, ev *ndxpv1.Event) error {
		r.events = append(r.events, ev)
		if ev.GetKind() == ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED {
			for i, a := range ev.GetDocument().GetHeader().GetAttachments() {
				var buf bytes.Buffer
				if _, err := c.Fetch(ctx, ev.GetDocumentId(), i, &buf); err != nil {
					return err
				}
				r.files[ev.GetDocumentId()+"/"+a.GetName()] = buf.Bytes()
			}
		}
		return nil
	}, client.UntilCaughtUp())
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return r
}

func TestSendDeliverStatusTrace(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	h14 := h.Agency(codeH14, "UBND tỉnh Cao Bằng")
	ctx := context.Background()

	small := []byte("Quyết định số 7816")
	large := randomBytes(t, 3<<20) // above the inline limit: stored as a file
	receipt, err := g22.Send(ctx, &ndxpv1.DocumentHeader{
		Recipients: []string{codeH41, codeH14},
		Subject:    "Về việc triển khai Chính phủ điện tử",
		Number:     "7816", Notation: "VPCP-TTĐT", PromulgationDate: "2026-11-26",
	}, []client.Attachment{
		{Name: "to-trinh.txt", MediaType: "text/plain", Body: bytes.NewReader(small)},
		{Name: "quyet-dinh.pdf", MediaType: "application/pdf", Body: bytes.NewReader(large)},
	})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if want := codeG22 + ",2026/11/26,7816/VPCP-TTĐT"; receipt.GetReference() != want {
		t.Errorf("reference = %q, want %q", receipt.GetReference(), want)
	}
	id := receipt.GetDocumentId()

	for _, rc := range []*client.Client{h41, h14} {
		got := drain(t, rc)
		if len(got.events) != 1 || got.events[0].GetKind() != ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED {
			t.Fatalf("%s events = %v, want one arrival", rc.Code(), got.events)
		}
		if !bytes.Equal(got.files[id+"/to-trinh.txt"], small) || !bytes.Equal(got.files[id+"/quyet-dinh.pdf"], large) {
			t.Errorf("%s: attachments differ from what was sent", rc.Code())
		}
		// The small attachment travels inside the event; the large one is fetched.
		atts := got.events[0].GetDocument().GetHeader().GetAttachments()
		if !bytes.Equal(atts[0].GetContent(), small) || len(atts[1].GetContent()) != 0 {
			t.Errorf("%s: inline contents %d and %d bytes, want %d and 0", rc.Code(), len(atts[0].GetContent()), len(atts[1].GetContent()), len(small))
		}
		if again := drain(t, rc); len(again.events) != 0 {
			t.Errorf("%s: acknowledged events came again: %v", rc.Code(), again.events)
		}
	}
	for _, code := range []string{"03", "05", "06"} {
		if _, err := h41.Report(ctx, client.Status{DocumentID: id, Code: code}); err != nil {
			t.Fatalf("H41 reports %s: %v", code, err)
		}
	}
	if _, err := h14.Report(ctx, client.Status{DocumentID: id, Code: "02", Reason: "Sai thẩm quyền"}); err != nil {
		t.Fatalf("H14 refuses: %v", err)
	}

	// The sender sees every status in order per recipient.
	got := drain(t, g22)
	var h41Codes, h14Codes []string
	for _, ev := range got.events {
		if ev.GetKind() != ndxpv1.EventKind_EVENT_KIND_STATUS_CHANGED {
			t.Errorf("sender got event kind %v", ev.GetKind())
			continue
		}
		switch ev.GetStatus().GetRecipientCode() {
		case codeH41:
			h41Codes = append(h41Codes, ev.GetStatus().GetCode())
		case codeH14:
			h14Codes = append(h14Codes, ev.GetStatus().GetCode())
		}
	}
	if fmt.Sprint(h41Codes) != "[01 03 05 06]" || fmt.Sprint(h14Codes) != "[01 02]" {
		t.Errorf("sender saw H41 %v and H14 %v, want [01 03 05 06] and [01 02]", h41Codes, h14Codes)
	}

	tr, err := g22.Trace(ctx, id)
	if err != nil {
		t.Fatalf("trace: %v", err)
	}
	if len(tr.GetRecipients()) != 2 || tr.GetRecipients()[0].GetStatus() != "06" || tr.GetRecipients()[1].GetStatus() != "02" {
		t.Errorf("sender trace = %v", tr.GetRecipients())
	}
	own, err := h41.Trace(ctx, id)
	if err != nil {
		t.Fatalf("recipient trace: %v", err)
	}
	if len(own.GetRecipients()) != 1 || own.GetRecipients()[0].GetRecipientCode() != codeH41 {
		t.Errorf("recipient sees lines %v, want only its own", own.GetRecipients())
	}
}

func TestOutsidersSeeNothing(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	h47 := h.Agency(codeH47, "UBND tỉnh Quảng Nam")
	ctx := context.Background()
	r, err := g22.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Mật", Number: "1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := r.GetDocumentId()
	checks := map[string]error{}
	_, checks["trace"] = h47.Trace(ctx, id)
	_, checks["document"] = h47.Document(ctx, id)
	_, checks["report"] = h47.Report(ctx, client.Status{DocumentID: id, Code: "03"})
	_, checks["recall"] = h47.Recall(ctx, id, "x")
	_, checks["fetch"] = h47.Fetch(ctx, id, 0, io.Discard)
	for what, err := range checks {
		if status.Code(err) != codes.NotFound {
			t.Errorf("outsider %s: %v, want NotFound", what, err)
		}
	}
	if _, err := g22.Report(ctx, client.Status{DocumentID: id, Code: "03"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("sender reporting status: %v, want PermissionDenied", err)
	}
	if _, err := h41.Recall(ctx, id, "x"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("recipient recalling: %v, want PermissionDenied", err)
	}
}

func TestRetriedSendIsIdempotent(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	ctx := context.Background()
	hdr := &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Công văn", Reference: codeG22 + ",2026/11/26,1/KT"}
	body := randomBytes(t, 200<<10)
	first, err := g22.Send(ctx, hdr, []client.Attachment{{Name: "a.bin", Body: bytes.NewReader(body)}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := g22.Send(ctx, hdr, []client.Attachment{{Name: "a.bin", Body: bytes.NewReader(body)}})
	if err != nil {
		t.Fatal(err)
	}
	if second.GetDocumentId() != first.GetDocumentId() || !second.GetDuplicate() || first.GetDuplicate() {
		t.Errorf("retry receipt %v; first %v", second, first)
	}
	if got := drain(t, h41); len(got.events) != 1 {
		t.Errorf("recipient got %d events, want 1", len(got.events))
	}
}

func TestBadSendsStoreNothing(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	h.AddAgency(codeH14, "UBND tỉnh Cao Bằng", ndxpv1.Stage_STAGE_PILOT)
	if _, err := h.Admin().Registry.SuspendAgency(context.Background(), &ndxpv1.SuspendAgencyRequest{Code: codeH14}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ok := func() *ndxpv1.DocumentHeader {
		return &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Về việc", Number: "9"}
	}
	tests := []struct {
		name    string
		mod     func(*ndxpv1.DocumentHeader)
		want    codes.Code
		mention string
	}{
		{"no recipients", func(h *ndxpv1.DocumentHeader) { h.Recipients = nil }, codes.InvalidArgument, "recipients"},
		{"only itself", func(h *ndxpv1.DocumentHeader) { h.Recipients = []string{codeG22} }, codes.InvalidArgument, "recipients"},
		{"unknown and suspended", func(h *ndxpv1.DocumentHeader) { h.Recipients = []string{codeH41, "000.00.00.H99", codeH14} }, codes.InvalidArgument, "000.00.00.H99"},
		{"malformed recipient", func(h *ndxpv1.DocumentHeader) { h.Recipients = []string{"28.22.H17"} }, codes.InvalidArgument, "recipients"},
		{"missing subject", func(h *ndxpv1.DocumentHeader) { h.Subject = " " }, codes.InvalidArgument, "subject"},
		{"bad priority", func(h *ndxpv1.DocumentHeader) { h.Priority = 7 }, codes.InvalidArgument, "priority"},
		{"no reference", func(h *ndxpv1.DocumentHeader) { h.Number = ""; h.Reference = "x" }, codes.InvalidArgument, "reference"},
		{"oversize header", func(h *ndxpv1.DocumentHeader) { h.Content = string(bytes.Repeat([]byte("a"), 300<<10)) }, codes.ResourceExhausted, "header_bytes"},
	}
	for _, tt := range tests {
		hdr := ok()
		tt.mod(hdr)
		_, err := g22.Send(ctx, hdr, nil)
		if status.Code(err) != tt.want || !bytes.Contains([]byte(status.Convert(err).Message()), []byte(tt.mention)) {
			t.Errorf("%s: %v, want %v mentioning %q", tt.name, err, tt.want, tt.mention)
		}
	}
	if got := drain(t, h41); len(got.events) != 0 {
		t.Errorf("refused sends delivered %d events", len(got.events))
	}
	list, err := g22.Exchange.ListSent(ctx, &ndxpv1.ListSentRequest{})
	if err != nil || len(list.GetDocuments()) != 0 {
		t.Errorf("refused sends stored documents: %v %v", list, err)
	}
}

// TestUpdateAndReplace: an update or a replacement refers to a document the
// same agency sent, and reaches recipients as its own kind of event.
func TestUpdateAndReplace(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	h14 := h.Agency(codeH14, "UBND tỉnh Cao Bằng")
	ctx := context.Background()
	orig, err := g22.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Bản gốc", Number: "1/G"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	drain(t, h41)
	for _, bt := range []ndxpv1.BusinessType{ndxpv1.BusinessType_BUSINESS_TYPE_UPDATE, ndxpv1.BusinessType_BUSINESS_TYPE_REPLACE} {
		if _, err := g22.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Sửa " + bt.String(), Number: "2/" + bt.String(),
			BusinessType: bt, OriginalDocumentId: orig.GetDocumentId()}, nil); err != nil {
			t.Fatalf("%v: %v", bt, err)
		}
	}
	got := drain(t, h41)
	var kinds []string
	for _, ev := range got.events {
		kinds = append(kinds, ev.GetKind().String())
		if ev.GetDocument().GetHeader().GetOriginalDocumentId() != orig.GetDocumentId() {
			t.Errorf("%v names original %q", ev.GetKind(), ev.GetDocument().GetHeader().GetOriginalDocumentId())
		}
	}
	if fmt.Sprint(kinds) != "[EVENT_KIND_DOCUMENT_UPDATED EVENT_KIND_DOCUMENT_REPLACED]" {
		t.Errorf("recipient events %v", kinds)
	}
	tests := []struct {
		name string
		hdr  *ndxpv1.DocumentHeader
		c    *client.Client
		want codes.Code
	}{
		{"update without an original", &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "x", Number: "3/G", BusinessType: ndxpv1.BusinessType_BUSINESS_TYPE_UPDATE}, g22, codes.InvalidArgument},
		{"original sent by someone else", &ndxpv1.DocumentHeader{Recipients: []string{codeG22}, Subject: "x", Number: "4/H", BusinessType: ndxpv1.BusinessType_BUSINESS_TYPE_REPLACE, OriginalDocumentId: orig.GetDocumentId()}, h14, codes.NotFound},
		{"revoke by sending", &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "x", Number: "5/G", BusinessType: ndxpv1.BusinessType_BUSINESS_TYPE_REVOKE, OriginalDocumentId: orig.GetDocumentId()}, g22, codes.InvalidArgument},
		{"original on a new document", &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "x", Number: "6/G", OriginalDocumentId: orig.GetDocumentId()}, g22, codes.InvalidArgument},
	}
	for _, tt := range tests {
		if _, err := tt.c.Send(ctx, tt.hdr, nil); status.Code(err) != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestSDKSendsEveryKindOfBody: the SDK hashes a large seekable body while
// uploading it (digest after the chunks), a small one first, and a plain
// reader on its way to a temporary file; a seekable body already advanced
// is sent from where it stands. Recipients get exactly those bytes.
func TestSDKSendsEveryKindOfBody(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	large, small, plain, tail := randomBytes(t, 3*client.ChunkSize+17), randomBytes(t, 1000), randomBytes(t, client.ChunkSize+5), randomBytes(t, 2*client.ChunkSize)
	advanced := bytes.NewReader(append(randomBytes(t, 100), tail...))
	if _, err := advanced.Seek(100, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"large.bin": large, "small.txt": small, "plain.bin": plain, "tail.bin": tail}
	r, err := g22.Send(context.Background(), &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Các loại tệp", Number: "1/TT"}, []client.Attachment{
		{Name: "large.bin", Body: bytes.NewReader(large)},
		{Name: "small.txt", Body: bytes.NewReader(small)},
		{Name: "plain.bin", Body: io.MultiReader(bytes.NewReader(plain))}, // not seekable
		{Name: "tail.bin", Body: advanced},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := drain(t, h41)
	for name, b := range want {
		if !bytes.Equal(got.files[r.GetDocumentId()+"/"+name], b) {
			t.Errorf("%s: recipient got %d bytes that differ from the %d sent", name, len(got.files[r.GetDocumentId()+"/"+name]), len(b))
		}
	}
}
