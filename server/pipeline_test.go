package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
)

func headerMsg(h *ndxpv1.DocumentHeader) *ndxpv1.SendDocumentsRequest {
	return &ndxpv1.SendDocumentsRequest{Part: &ndxpv1.SendDocumentsRequest_Header{Header: h}}
}

func chunkMsg(index int32, off int64, data []byte) *ndxpv1.SendDocumentsRequest {
	return &ndxpv1.SendDocumentsRequest{Part: &ndxpv1.SendDocumentsRequest_Chunk{Chunk: &ndxpv1.AttachmentChunk{Index: index, Offset: off, Data: data}}}
}

func endMsg() *ndxpv1.SendDocumentsRequest {
	return &ndxpv1.SendDocumentsRequest{Part: &ndxpv1.SendDocumentsRequest_End{End: &ndxpv1.DocumentEnd{}}}
}

// inlineAtt is an attachment carrying its bytes, as on SendDocuments.
func inlineAtt(name string, b []byte) *ndxpv1.AttachmentInfo {
	sum := sha256.Sum256(b)
	return &ndxpv1.AttachmentInfo{Name: name, MediaType: "application/pdf", Size: int64(len(b)), Sha256: sum[:], Content: b}
}

// TestSendDocumentsAnswersInOrder drives one SendDocuments stream by hand
// with every kind of document among hundreds of small ones in flight:
// each is answered in the order sent, a refused one does not end the
// stream, a retry gets its first receipt, and the recipient gets every
// accepted document with its bytes.
func TestSendDocumentsAnswersInOrder(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	stream, err := g22.Exchange.SendDocuments(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		ref  string     // the receipt's reference, or
		code codes.Code // the refusal's code
		dup  bool       // a retry's receipt
		body map[string][]byte
	}
	var wants []want
	large := randomBytes(t, 300<<10) // over the inline bound: chunks
	var sendErr error
	go func() {
		defer func() { sendErr = errors.Join(sendErr, stream.CloseSend()) }()
		send := func(m *ndxpv1.SendDocumentsRequest) bool {
			if err := stream.Send(m); err != nil {
				sendErr = err
				return false
			}
			return true
		}
		for i := range 300 {
			switch i {
			case 50: // chunked, its digest after its chunks
				sum := sha256.Sum256(large)
				hdr := &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Lớn", Number: "50", Notation: "VP",
					Attachments: []*ndxpv1.AttachmentInfo{{Name: "lon.pdf", Size: int64(len(large))}}}
				if !send(headerMsg(hdr)) || !send(chunkMsg(0, 0, large[:200<<10])) || !send(chunkMsg(0, 200<<10, large[200<<10:])) ||
					!send(&ndxpv1.SendDocumentsRequest{Part: &ndxpv1.SendDocumentsRequest_Digest{Digest: &ndxpv1.AttachmentDigest{Index: 0, Sha256: sum[:]}}}) ||
					!send(endMsg()) {
					return
				}
				continue
			case 60: // an unknown recipient
				if !send(headerMsg(&ndxpv1.DocumentHeader{Recipients: []string{"000.00.00.Z99"}, Subject: "Lạc", Number: "60", Notation: "VP"})) {
					return
				}
				continue
			case 70: // a retry of document 1
				i = 1
			case 80: // inline and chunked at once
				a := inlineAtt("a.pdf", []byte("a"))
				if !send(headerMsg(&ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Trộn", Number: "80", Notation: "VP",
					Attachments: []*ndxpv1.AttachmentInfo{a, {Name: "b.pdf", Size: 5}}})) {
					return
				}
				continue
			case 90: // no attachments at all
				if !send(headerMsg(&ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Trống", Number: "90", Notation: "VP"})) {
					return
				}
				continue
			}
			b := []byte(fmt.Sprintf("văn bản %d", i))
			if !send(headerMsg(&ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Nhỏ", Number: fmt.Sprint(i), Notation: "VP",
				Attachments: []*ndxpv1.AttachmentInfo{inlineAtt("nho.pdf", b), inlineAtt("rong.txt", nil)}})) {
				return
			}
		}
	}()
	for i := range 300 {
		w := want{ref: fmt.Sprintf("%d/VP", i), body: map[string][]byte{"nho.pdf": []byte(fmt.Sprintf("văn bản %d", i)), "rong.txt": nil}}
		switch i {
		case 50:
			w.body = map[string][]byte{"lon.pdf": large}
		case 60:
			w = want{code: codes.InvalidArgument}
		case 70:
			w = want{ref: "1/VP", dup: true}
		case 80:
			w = want{code: codes.InvalidArgument}
		case 90:
			w.body = nil
		}
		wants = append(wants, w)
	}
	ids := map[string]map[string][]byte{}
	for i, w := range wants {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("answer %d: %v (sending: %v)", i, err, sendErr)
		}
		if w.code != codes.OK {
			if e := resp.GetError(); e == nil || codes.Code(e.GetCode()) != w.code {
				t.Fatalf("answer %d: %v, want a refusal %v", i, resp, w.code)
			}
			continue
		}
		r := resp.GetReceipt()
		if r == nil || !strings.HasSuffix(r.GetReference(), ","+w.ref) {
			t.Fatalf("answer %d: %v, want the receipt of %s: answers out of order", i, resp, w.ref)
		}
		if r.GetDuplicate() != w.dup {
			t.Errorf("answer %d: duplicate %v, want %v", i, r.GetDuplicate(), w.dup)
		}
		if !w.dup {
			ids[r.GetDocumentId()] = w.body
		}
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("after the last answer: %v, want the stream's end", err)
	}
	if sendErr != nil {
		t.Fatal(sendErr)
	}
	got := drain(t, h41)
	arrived := 0
	for _, ev := range got.events {
		if ev.GetKind() != ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED {
			continue
		}
		arrived++
		body, ok := ids[ev.GetDocumentId()]
		if !ok {
			t.Fatalf("arrived %s, which got no receipt", ev.GetDocumentId())
		}
		for name, b := range body {
			if !bytes.Equal(got.files[ev.GetDocumentId()+"/"+name], b) {
				t.Errorf("document %s: %s differs", ev.GetDocumentId(), name)
			}
		}
	}
	if arrived != len(ids) {
		t.Errorf("%d documents arrived, %d were receipted", arrived, len(ids))
	}
}

// TestSendDocumentsRefusesMessagesOutOfPlace: a chunk or end with no
// document open, or a header inside a chunked document, ends the stream;
// a chunked document ended early is refused alone.
func TestSendDocumentsRefusesMessagesOutOfPlace(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h.Agency(codeH41, "UBND tỉnh Nghệ An")
	chunked := &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Chia", Number: "1/VP",
		Attachments: []*ndxpv1.AttachmentInfo{{Name: "a.pdf", Size: 10, Sha256: make([]byte, 32)}}}
	for _, tc := range []struct {
		name string
		msgs []*ndxpv1.SendDocumentsRequest
	}{
		{"chunk first", []*ndxpv1.SendDocumentsRequest{chunkMsg(0, 0, []byte("x"))}},
		{"end first", []*ndxpv1.SendDocumentsRequest{endMsg()}},
		{"header inside a document", []*ndxpv1.SendDocumentsRequest{headerMsg(chunked), chunkMsg(0, 0, []byte("x")), headerMsg(chunked)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream, err := g22.Exchange.SendDocuments(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tc.msgs {
				if stream.Send(m) != nil {
					break
				}
			}
			for {
				_, err = stream.Recv()
				if err != nil {
					break
				}
			}
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("stream ended with %v, want InvalidArgument", err)
			}
		})
	}
	stream, err := g22.Exchange.SendDocuments(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*ndxpv1.SendDocumentsRequest{
		headerMsg(chunked), chunkMsg(0, 0, []byte("12345")), endMsg(), // 5 of 10 bytes
		headerMsg(&ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Sau", Number: "2/VP"}),
	} {
		if err := stream.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	stream.CloseSend()
	first, err := stream.Recv()
	if err != nil || first.GetError() == nil || codes.Code(first.GetError().GetCode()) != codes.InvalidArgument ||
		!strings.Contains(first.GetError().GetMessage(), "incomplete") {
		t.Fatalf("an incomplete document: %v, %v; want it refused as incomplete", first, err)
	}
	if second, err := stream.Recv(); err != nil || second.GetReceipt() == nil {
		t.Fatalf("the document after it: %v, %v; want its receipt", second, err)
	}
}

// sendPaths are the SDK's two ways of sending a small document.
var sendPaths = []struct {
	name string
	opt  client.Option
}{
	{"one stream each", client.WithPipeline(0)},
	{"pipelined", client.WithPipeline(client.DefaultPipeline)},
}

// TestSendPathsAgree: the pipelined path answers as the one-stream path
// does: the same refusals with the same codes and details, the same
// limits, the first receipt for a retry. The hub's metrics show which
// method each client used.
func TestSendPathsAgree(t *testing.T) {
	for _, path := range sendPaths {
		t.Run(path.name, func(t *testing.T) {
			h := hubtest.StartWith(t, func(c *server.Config) {
				c.Limits.SendRate, c.Limits.SendBurst = 1, 3
				c.Limits.HeaderBytes = 8 << 10
			})
			h.Agency(codeG22, "Văn phòng Chính phủ")
			g22 := h.Dial(h.IssueCreds(codeG22), path.opt)
			h.Agency(codeH41, "UBND tỉnh Nghệ An")
			h.AddAgency(codeH14, "UBND tỉnh Cao Bằng", ndxpv1.Stage_STAGE_UNSPECIFIED) // pending
			h14 := h.Dial(h.IssueCreds(codeH14), path.opt)
			hdr := func(n string) *ndxpv1.DocumentHeader {
				return &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Đối chiếu", Number: n + "/VP"}
			}
			att := []client.Attachment{{Name: "a.pdf", Body: bytes.NewReader([]byte("nội dung"))}}
			once := client.WithAttempts(1)

			first, err := g22.Send(t.Context(), hdr("1"), att, once)
			if err != nil {
				t.Fatal(err)
			}
			// Unknown recipient: INVALID_ARGUMENT naming the field.
			bad := hdr("2")
			bad.Recipients = []string{"000.00.00.Z99"}
			_, err = g22.Send(t.Context(), bad, att, once)
			if status.Code(err) != codes.InvalidArgument || !hasFieldViolation(err) {
				t.Errorf("unknown recipient: %v, want InvalidArgument with a BadRequest detail", err)
			}
			// A pending sender may not send.
			if _, err := h14.Send(t.Context(), hdr("3"), nil, once); status.Code(err) != codes.FailedPrecondition {
				t.Errorf("pending sender: %v, want FailedPrecondition", err)
			}
			// header_bytes.
			big := hdr("4")
			big.Content = strings.Repeat("a", 9<<10)
			_, err = g22.Send(t.Context(), big, att, once)
			wantLimit(t, "9 KiB header", err, "header_bytes")
			// send_rate: the burst of 3 is spent by 1 and two more.
			for _, n := range []string{"5", "6"} {
				if _, err := g22.Send(t.Context(), hdr(n), att, once); err != nil {
					t.Fatalf("send %s within the burst: %v", n, err)
				}
			}
			_, err = g22.Send(t.Context(), hdr("7"), att, once)
			wantLimit(t, "send past the burst", err, "send_rate")
			// A retry of an accepted send gets its first receipt, throttled or not.
			again, err := g22.Send(t.Context(), hdr("1"), att, once)
			if err != nil || !again.GetDuplicate() || again.GetDocumentId() != first.GetDocumentId() {
				t.Errorf("retry: %v, %v; want the first receipt %s", again, err, first.GetDocumentId())
			}
			// A deadline that has passed: a status, as from a stream, not Unknown.
			past, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
			defer cancel()
			if _, err := g22.Send(past, hdr("8"), att, once); status.Code(err) != codes.DeadlineExceeded {
				t.Errorf("send past its deadline: %v (%v), want DeadlineExceeded", err, status.Code(err))
			}
			g22.Close()
			h14.Close()
			m := scrape(t, h)
			var one, many float64
			for k, v := range m {
				if strings.HasPrefix(k, "ndxp_rpc_duration_seconds_count{") {
					if strings.Contains(k, `method="ExchangeService/SendDocument"`) {
						one += v
					}
					if strings.Contains(k, `method="ExchangeService/SendDocuments"`) {
						many += v
					}
				}
			}
			if pipelined := path.name == "pipelined"; pipelined != (many > 0 && one == 0) {
				t.Errorf("%s: %v SendDocument and %v SendDocuments calls", path.name, one, many)
			}
		})
	}
}

func hasFieldViolation(err error) bool {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return true
		}
	}
	return false
}

// TestConcurrentSendsShareOneStream: many goroutines sending through one
// client all get their own receipts, and every document arrives once.
func TestConcurrentSendsShareOneStream(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	const n = 400
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[string]string{}
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf("văn bản %d", i)
			r, err := g22.Send(t.Context(), &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Song song", Number: fmt.Sprintf("%d/VP", i)},
				[]client.Attachment{{Name: "a.txt", Body: strings.NewReader(body)}})
			if err != nil {
				errs <- err
				return
			}
			if !strings.Contains(r.GetReference(), fmt.Sprintf(",%d/VP", i)) {
				errs <- fmt.Errorf("send %d got the receipt of %s", i, r.GetReference())
			}
			mu.Lock()
			ids[r.GetDocumentId()] = body
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := drain(t, h41)
	seen := map[string]bool{}
	for _, ev := range got.events {
		id := ev.GetDocumentId()
		if seen[id] {
			t.Errorf("%s arrived twice", id)
		}
		seen[id] = true
		if string(got.files[id+"/a.txt"]) != ids[id] {
			t.Errorf("%s: body %q, want %q", id, got.files[id+"/a.txt"], ids[id])
		}
	}
	if len(seen) != n {
		t.Errorf("%d documents arrived, want %d", len(seen), n)
	}
}

// TestReceiveAcknowledgesOnTheStream: acknowledgements sent on a Receive
// stream remove the events and record status 01 for the sender; those
// sent just before the caller closes its side are recorded before the
// stream ends.
func TestReceiveAcknowledgesOnTheStream(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	ids := sendN(t, g22, codeH41, 5, "nhận")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, err := h41.Exchange.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&ndxpv1.ReceiveRequest{Message: &ndxpv1.ReceiveRequest_Open{Open: &ndxpv1.SubscribeRequest{Window: 2}}}); err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for len(seqs) < len(ids) {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("after %d events: %v", len(seqs), err)
		}
		ev := resp.GetEvent()
		if ev == nil {
			continue
		}
		seqs = append(seqs, ev.GetSequence())
		// One at a time: with a window of 2 the later events come only
		// once these acknowledgements are recorded.
		if err := stream.Send(&ndxpv1.ReceiveRequest{Message: &ndxpv1.ReceiveRequest_Acknowledge{
			Acknowledge: &ndxpv1.AcknowledgeEventsRequest{Sequences: []uint64{ev.GetSequence()}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the stream after closing: %v, want its end", err)
		}
	}
	if left := drain(t, h41); len(left.events) != 0 {
		t.Errorf("%d events still queued after their acknowledgements", len(left.events))
	}
	for _, id := range ids {
		tr, err := g22.Trace(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if tr.GetRecipients()[0].GetDeliverTime() == nil {
			t.Errorf("%s: no delivery recorded for the sender", id)
		}
	}
}

// TestDrainEndsIdleSendDocuments: an idle SendDocuments stream ends with
// UNAVAILABLE when the hub drains, instead of holding up its stop.
func TestDrainEndsIdleSendDocuments(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h.Agency(codeH41, "UBND tỉnh Nghệ An")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stream, err := g22.Exchange.SendDocuments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(headerMsg(&ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Trước khi dừng", Number: "1", Notation: "VP"})); err != nil {
		t.Fatal(err)
	}
	if r, err := stream.Recv(); err != nil || r.GetReceipt() == nil {
		t.Fatalf("first document: %v, %v", r, err)
	}
	h.Daemon.Hub().Drain()
	_, err = stream.Recv()
	if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), "shutting down") {
		t.Errorf("idle stream on a draining hub: %v, want Unavailable saying it is shutting down", err)
	}
}

// TestSDKFallsBackOnAnOlderHub: against a hub without SendDocuments and
// Receive, the SDK sends each document on its own SendDocument stream
// and subscribes with Subscribe and AcknowledgeEvents, and nothing is
// lost.
func TestSDKFallsBackOnAnOlderHub(t *testing.T) {
	h := hubtest.Start(t)
	h.Daemon.Unserve("/ndxp.v1.ExchangeService/SendDocuments", "/ndxp.v1.ExchangeService/Receive")
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	ids := sendN(t, g22, codeH41, 3, "cũ")
	got := drain(t, h41)
	if len(got.events) != len(ids) {
		t.Fatalf("%d events, want %d", len(got.events), len(ids))
	}
	for i, ev := range got.events {
		if ev.GetDocumentId() != ids[i] {
			t.Errorf("event %d: %s, want %s", i, ev.GetDocumentId(), ids[i])
		}
	}
	if left := drain(t, h41); len(left.events) != 0 {
		t.Errorf("%d events still queued: the acknowledgements were lost", len(left.events))
	}
	m := scrape(t, h)
	for _, k := range []string{
		`ndxp_rpc_duration_seconds_count{code="Unimplemented",method="ExchangeService/SendDocuments"}`,
		`ndxp_rpc_duration_seconds_count{code="Unimplemented",method="ExchangeService/Receive"}`,
		`ndxp_rpc_duration_seconds_count{code="OK",method="ExchangeService/SendDocument"}`,
		`ndxp_rpc_duration_seconds_count{code="OK",method="ExchangeService/AcknowledgeEvents"}`,
	} {
		if m[k] < 1 {
			t.Errorf("%s = %v, want at least 1", k, m[k])
		}
	}
	if n := m[`ndxp_rpc_duration_seconds_count{code="Unimplemented",method="ExchangeService/SendDocuments"}`]; n != 1 {
		t.Errorf("SendDocuments tried %v times, want once: the client remembers", n)
	}
}
