package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

func sendN(t *testing.T, c *client.Client, to string, n int, tag string) []string {
	t.Helper()
	var ids []string
	for i := range n {
		r, err := c.Send(context.Background(), &ndxpv1.DocumentHeader{
			Recipients: []string{to}, Subject: fmt.Sprintf("Công văn %s-%d", tag, i), Number: fmt.Sprintf("%d/%s", i, tag),
		}, nil)
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		ids = append(ids, r.GetDocumentId())
	}
	return ids
}

// TestKilledSubscriberGetsUnackedAgain: a subscriber that dies after
// handling some events gets exactly the unacknowledged ones again on its
// next subscription, never an acknowledged one.
func TestKilledSubscriberGetsUnackedAgain(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	ids := sendN(t, g22, codeH41, 10, "A")

	// The first subscriber handles 4 events, fails the 5th, then dies
	// (its context ends) with the rest pushed but unhandled.
	ctx, kill := context.WithCancel(context.Background())
	var handled []string
	n := 0
	err := h41.Subscribe(ctx, func(_ context.Context, ev *ndxpv1.Event) error {
		n++
		if n <= 4 {
			handled = append(handled, ev.GetDocumentId())
			return nil
		}
		kill()
		return fmt.Errorf("crashed")
	}, client.Window(8))
	if err != context.Canceled {
		t.Fatalf("first subscription ended with %v", err)
	}
	if fmt.Sprint(handled) != fmt.Sprint(ids[:4]) {
		t.Fatalf("handled %v, want the first 4 in order", handled)
	}

	got := drain(t, h41)
	var again []string
	var flags []bool
	for _, ev := range got.events {
		again = append(again, ev.GetDocumentId())
		flags = append(flags, ev.GetRedelivery())
	}
	// The 5th was pushed (its handler failed), so it must be flagged; how
	// many after it were pushed depends on timing, but those flagged come
	// first: the flags are some trues, then falses.
	if len(flags) > 0 && !flags[0] {
		t.Errorf("the event whose handler failed came again unflagged: %v", flags)
	}
	for i := 1; i < len(flags); i++ {
		if flags[i] && !flags[i-1] {
			t.Errorf("redelivery flags %v: a pushed-before event after a new one", flags)
		}
	}
	if fmt.Sprint(again) != fmt.Sprint(ids[4:]) {
		t.Errorf("after reconnect got %v, want exactly the 6 unacknowledged %v in order", again, ids[4:])
	}
	if got := drain(t, h41); len(got.events) != 0 {
		t.Errorf("a third subscription got %d events, want none", len(got.events))
	}
}

// TestAckDeadlineRedelivers: an event not acknowledged in time comes again
// on the same stream, marked as a redelivery.
func TestAckDeadlineRedelivers(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	ids := sendN(t, g22, codeH41, 1, "R")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var seen []bool
	err := h41.Subscribe(ctx, func(_ context.Context, ev *ndxpv1.Event) error {
		seen = append(seen, ev.GetRedelivery())
		if len(seen) == 1 {
			return fmt.Errorf("not yet") // unacknowledged: must come again after 1 s
		}
		cancel()
		return nil
	}, client.AckDeadline(time.Second))
	if err != context.Canceled {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[false true]" {
		t.Errorf("pushes of %s: redelivery flags %v, want [false true]", ids[0], seen)
	}
}

// TestConcurrentExchange: many senders and receivers at once; every
// document reaches each recipient's handler exactly once.
func TestConcurrentExchange(t *testing.T) {
	h := hubtest.Start(t)
	const agencies, perSender = 6, 15
	codes := make([]string, agencies)
	clients := make([]*client.Client, agencies)
	for i := range agencies {
		codes[i] = fmt.Sprintf("000.00.00.H%02d", 10+i)
		clients[i] = h.Agency(codes[i], fmt.Sprintf("UBND tỉnh %d", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	got := map[string]int{} // recipient/document -> handler calls
	var subs sync.WaitGroup
	for i, c := range clients {
		subs.Add(1)
		go func() {
			defer subs.Done()
			c.Subscribe(ctx, func(_ context.Context, ev *ndxpv1.Event) error {
				if ev.GetKind() == ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED {
					mu.Lock()
					got[codes[i]+"/"+ev.GetDocumentId()]++
					mu.Unlock()
				}
				return nil
			})
		}()
	}
	want := map[string]int{}
	var wmu sync.Mutex
	var senders sync.WaitGroup
	for i, c := range clients {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for j := range perSender {
				to := []string{codes[(i+1)%agencies], codes[(i+2+j)%agencies]}
				if to[1] == codes[i] {
					to = to[:1]
				}
				r, err := c.Send(context.Background(), &ndxpv1.DocumentHeader{
					Recipients: to, Subject: "Đồng thời", Number: fmt.Sprintf("%d-%d/DT", i, j),
				}, []client.Attachment{{Name: "a.txt", Body: bytes.NewReader([]byte(fmt.Sprint(i, j)))}})
				if err != nil {
					t.Errorf("send: %v", err)
					return
				}
				wmu.Lock()
				for _, rc := range r.GetRecipients() {
					want[rc+"/"+r.GetDocumentId()] = 1
				}
				wmu.Unlock()
			}
		}()
	}
	senders.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		done := len(got) >= len(want)
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let any duplicate show up
	cancel()
	subs.Wait()
	mu.Lock()
	defer mu.Unlock()
	for k := range want {
		if got[k] != 1 {
			t.Errorf("%s delivered %d times, want once", k, got[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d deliveries, want %d", len(got), len(want))
	}
}

// rawSend drives the upload stream by hand, to break the protocol.
func rawSend(t *testing.T, c *client.Client, hdr *ndxpv1.DocumentHeader, chunks ...*ndxpv1.AttachmentChunk) error {
	t.Helper()
	parts := make([]*ndxpv1.SendDocumentRequest, len(chunks))
	for i, ch := range chunks {
		parts[i] = &ndxpv1.SendDocumentRequest{Part: &ndxpv1.SendDocumentRequest_Chunk{Chunk: ch}}
	}
	_, err := rawSendParts(t, c, hdr, parts...)
	return err
}

// rawSendParts sends the header, then the given messages as they are.
func rawSendParts(t *testing.T, c *client.Client, hdr *ndxpv1.DocumentHeader, parts ...*ndxpv1.SendDocumentRequest) (*ndxpv1.SendDocumentResponse, error) {
	t.Helper()
	s, err := c.Exchange.SendDocument(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&ndxpv1.SendDocumentRequest{Part: &ndxpv1.SendDocumentRequest_Header{Header: hdr}}); err != nil {
		return s.CloseAndRecv()
	}
	for _, p := range parts {
		if err := s.Send(p); err != nil {
			break
		}
	}
	return s.CloseAndRecv()
}

func TestBrokenUploadsStoreNothing(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	a, b := []byte("phần một"), []byte("phần hai")
	sa, sb := sha256.Sum256(a), sha256.Sum256(b)
	hdr := func(n int) *ndxpv1.DocumentHeader {
		return &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Tải lên", Number: fmt.Sprintf("%d/TL", n),
			Attachments: []*ndxpv1.AttachmentInfo{
				{Name: "a.txt", Size: int64(len(a)), Sha256: sa[:]},
				{Name: "b.txt", Size: int64(len(b)), Sha256: sb[:]},
			}}
	}
	chunk := func(i int, off int64, d []byte) *ndxpv1.AttachmentChunk {
		return &ndxpv1.AttachmentChunk{Index: int32(i), Offset: off, Data: d}
	}
	bad := sha256.Sum256([]byte("khác"))
	tests := []struct {
		name    string
		hdr     *ndxpv1.DocumentHeader
		chunks  []*ndxpv1.AttachmentChunk
		mention string
	}{
		{"second attachment first", hdr(1), []*ndxpv1.AttachmentChunk{chunk(1, 0, b), chunk(0, 0, a)}, "out of order"},
		{"gap in offsets", hdr(2), []*ndxpv1.AttachmentChunk{chunk(0, 0, a[:3]), chunk(0, 5, a[5:]), chunk(1, 0, b)}, "offset"},
		{"second attachment missing", hdr(3), []*ndxpv1.AttachmentChunk{chunk(0, 0, a)}, "incomplete"},
		{"longer than declared", hdr(4), []*ndxpv1.AttachmentChunk{chunk(0, 0, append(bytes.Clone(a), 'x'))}, "size"},
		{"digest mismatch", func() *ndxpv1.DocumentHeader { h := hdr(5); h.Attachments[1].Sha256 = bad[:]; return h }(),
			[]*ndxpv1.AttachmentChunk{chunk(0, 0, a), chunk(1, 0, b)}, "SHA-256"},
		{"short digest", func() *ndxpv1.DocumentHeader { h := hdr(6); h.Attachments[0].Sha256 = sa[:4]; return h }(), nil, "sha256"},
		{"path in name", func() *ndxpv1.DocumentHeader { h := hdr(7); h.Attachments[0].Name = "../x"; return h }(), nil, "name"},
	}
	for _, tt := range tests {
		err := rawSend(t, g22, tt.hdr, tt.chunks...)
		if status.Code(err) != codes.InvalidArgument || !bytes.Contains([]byte(status.Convert(err).Message()), []byte(tt.mention)) {
			t.Errorf("%s: %v, want InvalidArgument mentioning %q", tt.name, err, tt.mention)
		}
	}
	if err := rawSend(t, g22, hdr(8), chunk(0, 0, a), chunk(1, 0, b)); err != nil {
		t.Fatalf("a correct raw upload failed: %v", err)
	}
	if got := drain(t, h41); len(got.events) != 1 {
		t.Errorf("recipient got %d events, want only the correct upload", len(got.events))
	}
}

func TestStatusWorkflow(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	ctx := context.Background()
	id := sendN(t, g22, codeH41, 1, "W")[0]
	steps := []struct {
		code, reason string
		want         codes.Code
		mention      string
	}{
		{"03", "", codes.FailedPrecondition, "none"}, // not acknowledged yet
		{"99", "", codes.InvalidArgument, "unknown status code"},
		{"07", "", codes.InvalidArgument, "unknown status code"},
		{"01", "", codes.InvalidArgument, "acknowledge"},
		{"13", "", codes.InvalidArgument, "sender"},
		{"15", "", codes.InvalidArgument, ""}, // refused below once arrived: see later step
	}
	for _, s := range steps[:5] {
		_, err := h41.Report(ctx, client.Status{DocumentID: id, Code: s.code, Reason: s.reason})
		if status.Code(err) != s.want || !bytes.Contains([]byte(status.Convert(err).Message()), []byte(s.mention)) {
			t.Errorf("report %s before arrival: %v, want %v mentioning %q", s.code, err, s.want, s.mention)
		}
	}
	drain(t, h41) // acknowledges: status 01
	for _, s := range []struct {
		code, reason string
		want         codes.Code
		mention      string
	}{
		{"02", "", codes.InvalidArgument, "reason"},
		{"15", "", codes.FailedPrecondition, "no recall"},
		{"03", "", codes.OK, ""},
		{"03", "", codes.FailedPrecondition, "03 (accepted)"},
		{"02", "Sai", codes.FailedPrecondition, "on receipt"},
		{"06", "", codes.OK, ""}, // skipping 04 and 05 is fine
		{"05", "", codes.FailedPrecondition, "06 (completed)"},
	} {
		_, err := h41.Report(ctx, client.Status{DocumentID: id, Code: s.code, Reason: s.reason})
		if status.Code(err) != s.want || !bytes.Contains([]byte(status.Convert(err).Message()), []byte(s.mention)) {
			t.Errorf("report %s: %v, want %v mentioning %q", s.code, err, s.want, s.mention)
		}
	}
	// The recall flow still runs after 06.
	rc, err := g22.Recall(ctx, id, "Ban hành nhầm")
	if err != nil || len(rc.GetWithdrawn()) != 0 || len(rc.GetAsked()) != 1 {
		t.Fatalf("recall: %v err %v", rc, err)
	}
	if _, err := g22.Recall(ctx, id, "again"); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("second recall: %v, want FailedPrecondition", err)
	}
	got := drain(t, h41)
	if len(got.events) != 1 || got.events[0].GetKind() != ndxpv1.EventKind_EVENT_KIND_DOCUMENT_RECALLED || got.events[0].GetReason() != "Ban hành nhầm" {
		t.Errorf("recipient events after recall: %v", got.events)
	}
	if _, err := h41.Report(ctx, client.Status{DocumentID: id, Code: "16"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("16 without reason: %v", err)
	}
	if _, err := h41.Report(ctx, client.Status{DocumentID: id, Code: "15"}); err != nil {
		t.Errorf("15: %v", err)
	}
	// Having accepted the recall, the recipient no longer has the document.
	if _, err := h41.Report(ctx, client.Status{DocumentID: id, Code: "16", Reason: "muộn"}); status.Code(err) != codes.NotFound {
		t.Errorf("16 after 15: %v, want NotFound", err)
	}
}

func TestRecallWithdrawsUndelivered(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	h14 := h.Agency(codeH14, "UBND tỉnh Cao Bằng")
	ctx := context.Background()
	r, err := g22.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{codeH41, codeH14}, Subject: "Thu hồi", Number: "5/TH"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	drain(t, h41) // H41 has it; H14 does not yet
	rc, err := g22.Recall(ctx, r.GetDocumentId(), "Sai sót")
	if err != nil || fmt.Sprint(rc.GetWithdrawn()) != "["+codeH14+"]" || fmt.Sprint(rc.GetAsked()) != "["+codeH41+"]" {
		t.Fatalf("recall: %v err %v", rc, err)
	}
	if got := drain(t, h14); len(got.events) != 0 {
		t.Errorf("H14 still got %v after the withdrawal", got.events)
	}
	tr, err := g22.Trace(ctx, r.GetDocumentId())
	if err != nil {
		t.Fatal(err)
	}
	recalls := map[string]string{}
	for _, l := range tr.GetRecipients() {
		recalls[l.GetRecipientCode()] = l.GetRecall()
	}
	if recalls[codeH14] != "withdrawn" || recalls[codeH41] != "13" {
		t.Errorf("trace recall states %v", recalls)
	}
	if _, err := h14.Report(ctx, client.Status{DocumentID: r.GetDocumentId(), Code: "03"}); status.Code(err) != codes.NotFound {
		t.Errorf("status on a withdrawn document: %v, want NotFound", err)
	}
}

func TestPresenceFollowsSubscription(t *testing.T) {
	h := hubtest.Start(t)
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	admin := h.Admin()
	online := func() bool {
		r, err := admin.Registry.GetAgency(context.Background(), &ndxpv1.GetAgencyRequest{Code: codeH41})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetAgency().GetPresence().GetOnline()
	}
	// A safety net, not a budget (it was 5 s): under load a subscription
	// can take seconds to register, and the wait ends as soon as it does.
	waitFor := func(want bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if online() == want {
				return
			}
		}
		t.Fatalf("online never became %v", want)
	}
	if online() {
		t.Fatal("online before subscribing")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h41.Subscribe(ctx, func(context.Context, *ndxpv1.Event) error { return nil }) }()
	waitFor(true)
	ov, err := admin.Registry.GetOverview(context.Background(), &ndxpv1.GetOverviewRequest{})
	if err != nil || ov.GetOverview().GetOnline() != 1 {
		t.Errorf("overview online = %d, %v; want 1", ov.GetOverview().GetOnline(), err)
	}
	r, _ := admin.Registry.GetAgency(context.Background(), &ndxpv1.GetAgencyRequest{Code: codeH41})
	if r.GetAgency().GetStage() != ndxpv1.Stage_STAGE_PILOT {
		t.Errorf("connecting changed the stage to %v", r.GetAgency().GetStage())
	}
	cancel()
	<-done
	waitFor(false)
	r, _ = admin.Registry.GetAgency(context.Background(), &ndxpv1.GetAgencyRequest{Code: codeH41})
	seen := r.GetAgency().GetPresence().GetLastSeen()
	if seen == nil {
		t.Fatal("no last-seen time after a connection")
	}
	// Last seen survives a restart; being online does not.
	h.Stop()
	h2 := hubtest.StartDir(t, h.DataDir)
	r, err = h2.Admin().Registry.GetAgency(context.Background(), &ndxpv1.GetAgencyRequest{Code: codeH41})
	if err != nil {
		t.Fatal(err)
	}
	if p := r.GetAgency().GetPresence(); p.GetOnline() || p.GetLastSeen() == nil || p.GetLastSeen().AsTime().Before(seen.AsTime().Add(-time.Second)) {
		t.Errorf("presence after a restart = %v, want offline with last seen %v", p, seen.AsTime())
	}
}

// TestNewerSubscriptionTakesOver: a second subscription of the same agency
// takes over; the first ends with FailedPrecondition (not a retry code, so
// two systems do not take the stream from each other forever).
func TestNewerSubscriptionTakesOver(t *testing.T) {
	h := hubtest.Start(t)
	h.Agency(codeH41, "UBND tỉnh Nghệ An")
	creds := h.IssueCreds(codeH41)
	first, second := h.Dial(creds), h.Dial(creds)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	connected := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- first.Subscribe(ctx, func(context.Context, *ndxpv1.Event) error { return nil },
			client.OnConnection(func(ok bool, _ error) {
				if ok {
					connected <- struct{}{}
				}
			}))
	}()
	<-connected
	go second.Subscribe(ctx, func(context.Context, *ndxpv1.Event) error { return nil })
	select {
	case err := <-done:
		if status.Code(err) != codes.FailedPrecondition {
			t.Errorf("first subscription ended with %v, want FailedPrecondition", err)
		}
	case <-ctx.Done():
		t.Fatal("the first subscription was not ended by the second")
	}
}

// TestDigestAfterChunks: an attachment whose header gives no sha256 is
// closed by an AttachmentDigest right after its last chunk; the hub checks
// it, stores it in the header recipients see, and refuses every other order.
func TestDigestAfterChunks(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	small := []byte("phần nhỏ")
	large := randomBytes(t, 300<<10) // above the inline limit: streamed to a file
	ss, sl := sha256.Sum256(small), sha256.Sum256(large)
	hdr := func(n int) *ndxpv1.DocumentHeader {
		return &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Mã băm sau", Number: fmt.Sprintf("%d/MB", n),
			Attachments: []*ndxpv1.AttachmentInfo{
				{Name: "nho.txt", Size: int64(len(small))}, // digest follows
				{Name: "lon.bin", Size: int64(len(large))}, // digest follows
				{Name: "rong.txt", Size: 0},                // empty: needs none
			}}
	}
	chunk := func(i int, off int64, d []byte) *ndxpv1.SendDocumentRequest {
		return &ndxpv1.SendDocumentRequest{Part: &ndxpv1.SendDocumentRequest_Chunk{Chunk: &ndxpv1.AttachmentChunk{Index: int32(i), Offset: off, Data: d}}}
	}
	digest := func(i int, sum []byte) *ndxpv1.SendDocumentRequest {
		return &ndxpv1.SendDocumentRequest{Part: &ndxpv1.SendDocumentRequest_Digest{Digest: &ndxpv1.AttachmentDigest{Index: int32(i), Sha256: sum}}}
	}
	half := len(large) / 2
	good := []*ndxpv1.SendDocumentRequest{chunk(0, 0, small), digest(0, ss[:]), chunk(1, 0, large[:half]), chunk(1, int64(half), large[half:]), digest(1, sl[:])}
	bad := sha256.Sum256([]byte("khác"))
	tests := []struct {
		name    string
		parts   []*ndxpv1.SendDocumentRequest
		mention string
	}{
		{"no digest before the next attachment", []*ndxpv1.SendDocumentRequest{chunk(0, 0, small), chunk(1, 0, large)}, "digest must come"},
		{"upload ends without the digest", []*ndxpv1.SendDocumentRequest{good[0], good[1], good[2], good[3]}, "without its digest"},
		{"wrong digest, small", []*ndxpv1.SendDocumentRequest{chunk(0, 0, small), digest(0, bad[:])}, "SHA-256"},
		{"wrong digest, large", []*ndxpv1.SendDocumentRequest{good[0], good[1], good[2], good[3], digest(1, bad[:])}, "SHA-256"},
		{"digest before the last chunk", []*ndxpv1.SendDocumentRequest{good[0], good[1], good[2], digest(1, sl[:])}, "none was expected"},
		{"digest for another attachment", []*ndxpv1.SendDocumentRequest{chunk(0, 0, small), digest(1, ss[:])}, "digest.index"},
		{"short digest", []*ndxpv1.SendDocumentRequest{chunk(0, 0, small), digest(0, ss[:8])}, "32"},
		{"empty digest", []*ndxpv1.SendDocumentRequest{chunk(0, 0, small), digest(0, nil)}, "32"},
	}
	for i, tt := range tests {
		_, err := rawSendParts(t, g22, hdr(i+1), tt.parts...)
		if status.Code(err) != codes.InvalidArgument || !bytes.Contains([]byte(status.Convert(err).Message()), []byte(tt.mention)) {
			t.Errorf("%s: %v, want InvalidArgument mentioning %q", tt.name, err, tt.mention)
		}
	}
	// A digest where the header already has one is out of place too.
	withSum := hdr(50)
	withSum.Attachments[0].Sha256 = ss[:]
	if _, err := rawSendParts(t, g22, withSum, chunk(0, 0, small), digest(0, ss[:])); status.Code(err) != codes.InvalidArgument {
		t.Errorf("digest after a declared one: %v, want InvalidArgument", err)
	}

	r, err := rawSendParts(t, g22, hdr(99), good...)
	if err != nil {
		t.Fatalf("a correct upload with digests after the chunks: %v", err)
	}
	got := drain(t, h41)
	if len(got.events) != 1 {
		t.Fatalf("recipient got %d events, want only the correct upload", len(got.events))
	}
	atts := got.events[0].GetDocument().GetHeader().GetAttachments()
	empty := sha256.Sum256(nil)
	for i, want := range [][]byte{ss[:], sl[:], empty[:]} {
		if !bytes.Equal(atts[i].GetSha256(), want) {
			t.Errorf("attachment %d: recipient sees digest %x, want %x", i, atts[i].GetSha256(), want)
		}
	}
	if !bytes.Equal(got.files[r.GetDocumentId()+"/lon.bin"], large) || !bytes.Equal(got.files[r.GetDocumentId()+"/nho.txt"], small) {
		t.Error("the fetched attachments differ from what was sent")
	}
}
