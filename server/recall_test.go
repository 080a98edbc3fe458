package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// TestRecallEndsAccess: a recipient from which a recall took the document
// (withdrawn before it took it, or accepting the recall with 15) can no
// longer read it or its attachments, and its list shows only that it was
// recalled; a recipient still deciding (13) or refusing (16) keeps it.
func TestRecallEndsAccess(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")   // takes it, then accepts the recall
	h14 := h.Agency(codeH14, "UBND tỉnh Cao Bằng")  // never takes it: withdrawn
	h47 := h.Agency(codeH47, "UBND tỉnh Quảng Nam") // takes it, refuses the recall
	ctx := t.Context()
	body := randomBytes(t, 300<<10) // a file body, and a small inline one
	r, err := g22.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{codeH41, codeH14, codeH47}, Subject: "Quyết định ban hành nhầm", Number: "9/QĐ"},
		[]client.Attachment{{Name: "qd.pdf", Body: bytes.NewReader(body)}, {Name: "note.txt", Body: bytes.NewReader([]byte("ghi chú"))}})
	if err != nil {
		t.Fatal(err)
	}
	id := r.GetDocumentId()
	drain(t, h41)
	drain(t, h47)
	if _, err := g22.Recall(ctx, id, "Ban hành nhầm"); err != nil {
		t.Fatal(err)
	}

	canRead := func(c *client.Client) error {
		if _, err := c.Document(ctx, id); err != nil {
			return err
		}
		for i := range 2 {
			if _, err := c.Fetch(ctx, id, i, io.Discard); err != nil {
				return err
			}
		}
		return nil
	}
	// Asked (13): the recipient still reads what it must decide on.
	if err := canRead(h41); err != nil {
		t.Errorf("recipient asked to accept the recall: %v", err)
	}
	if _, err := h41.Report(ctx, client.Status{DocumentID: id, Code: "15"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h47.Report(ctx, client.Status{DocumentID: id, Code: "16", Reason: "Đã ban hành cho cấp dưới"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		c    *client.Client
	}{{"accepted the recall (15)", h41}, {"withdrawn", h14}} {
		if _, err := c.c.Document(ctx, id); status.Code(err) != codes.NotFound {
			t.Errorf("%s: GetDocument: %v, want NotFound", c.name, err)
		}
		for i := range 2 {
			if _, err := c.c.Fetch(ctx, id, i, io.Discard); status.Code(err) != codes.NotFound {
				t.Errorf("%s: FetchAttachment %d: %v, want NotFound", c.name, i, err)
			}
		}
		if _, err := c.c.Trace(ctx, id); status.Code(err) != codes.NotFound {
			t.Errorf("%s: GetTrace: %v, want NotFound", c.name, err)
		}
		list, err := c.c.Exchange.ListReceived(ctx, &ndxpv1.ListReceivedRequest{})
		if err != nil || len(list.GetDocuments()) != 1 {
			t.Fatalf("%s: list: %v, %v", c.name, list, err)
		}
		d := list.GetDocuments()[0].GetDocument()
		if !d.GetRecalled() || d.GetId() != id || d.GetSenderCode() != codeG22 || d.GetHeader().GetSubject() != "" || len(d.GetHeader().GetAttachments()) != 0 {
			t.Errorf("%s: listed as %v; want recalled, with its id and sender and nothing of its content", c.name, d)
		}
	}
	if err := canRead(h47); err != nil {
		t.Errorf("recipient that refused the recall (16): %v", err)
	}
	if err := canRead(g22); err != nil {
		t.Errorf("sender: %v", err)
	}
}

// TestEmptyAttachmentAfterAnother: an empty attachment hashes as empty,
// whatever came before it (it was hashed with the previous body, so a send
// of small.txt then empty.txt always failed, and one declaring the
// previous digest was stored with the previous bytes).
func TestEmptyAttachmentAfterAnother(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	small := []byte("0123456789")
	r, err := g22.Send(t.Context(), &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Tệp rỗng", Number: "1/VP"},
		[]client.Attachment{{Name: "small.txt", Body: bytes.NewReader(small)}, {Name: "empty.txt", Body: bytes.NewReader(nil)}, {Name: "after.txt", Body: bytes.NewReader(small)}})
	if err != nil {
		t.Fatalf("send small, empty, small: %v", err)
	}
	got := drain(t, h41)
	if b := got.files[r.GetDocumentId()+"/empty.txt"]; len(b) != 0 {
		t.Errorf("the empty attachment arrived with %d bytes", len(b))
	}
	if b := got.files[r.GetDocumentId()+"/after.txt"]; !bytes.Equal(b, small) {
		t.Errorf("the attachment after the empty one arrived as %q", b)
	}

	prev := sha256.Sum256(small)
	err = rawSend(t, g22, &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Tệp rỗng khai sai", Number: "2/VP",
		Attachments: []*ndxpv1.AttachmentInfo{{Name: "small.txt", Size: 10, Sha256: prev[:]}, {Name: "empty.txt", Size: 0, Sha256: prev[:]}}},
		&ndxpv1.AttachmentChunk{Index: 0, Data: small})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("an empty attachment declaring the previous one's digest: %v, want InvalidArgument", err)
	}
}

// TestPendingAgencyDoesNotExchange: an agency whose code is issued but
// that is not yet piloting may prepare (its credentials, the directory,
// a subscription that shows it online), but neither sends nor is a
// recipient.
func TestPendingAgencyDoesNotExchange(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h.AddAgency(codeH41, "UBND tỉnh Nghệ An", ndxpv1.Stage_STAGE_PENDING)
	h41 := h.Dial(h.IssueCreds(codeH41))
	ctx := t.Context()
	if _, err := h41.Directory.LookupAgency(ctx, &ndxpv1.LookupAgencyRequest{Code: codeG22}); err != nil {
		t.Errorf("a pending agency reading the directory: %v", err)
	}
	_, err := h41.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{codeG22}, Subject: "Chưa được gửi", Number: "1/NA"}, nil, client.WithAttempts(1))
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("a pending agency sending: %v, want FailedPrecondition", err)
	}
	err = h41.Subscribe(ctx, func(_ context.Context, _ *ndxpv1.Event) error { return nil }, client.UntilCaughtUp())
	if err != nil {
		t.Errorf("a pending agency subscribing (to show its system connected): %v", err)
	}
	_, err = g22.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Gửi cơ quan chưa kết nối", Number: "1/VP"}, nil, client.WithAttempts(1))
	if status.Code(err) != codes.InvalidArgument || !bytes.Contains([]byte(status.Convert(err).Message()), []byte("pending")) {
		t.Errorf("a send to a pending agency: %v, want InvalidArgument naming it pending", err)
	}
}
