package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
)

// wantLimit checks that err is the refusal of the named limit.
func wantLimit(t *testing.T, what string, err error, limit string) {
	t.Helper()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), "limit "+limit) {
		t.Errorf("%s: %v, want ResourceExhausted naming limit %s", what, err, limit)
	}
}

// tmpUploads lists the upload files the hub has open or left behind.
func tmpUploads(t *testing.T, h *hubtest.Hub) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(h.DataDir, server.BlobDir, "tmp", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// stalledUpload starts an upload of a 1 MiB attachment, sends one byte of
// it and leaves the stream open.
func stalledUpload(t *testing.T, c *client.Client, to string) ndxpv1.ExchangeService_SendDocumentClient {
	t.Helper()
	// The deadline is a safety net: a hub without the idle limit would
	// otherwise hold the stream for ever.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	s, err := c.Exchange.SendDocument(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hdr := &ndxpv1.DocumentHeader{Recipients: []string{to}, Subject: "Tải lên dừng giữa chừng", Number: "1/TL",
		Attachments: []*ndxpv1.AttachmentInfo{{Name: "a.pdf", Size: 1 << 20}}}
	// io.EOF from Send means the hub ended the stream: its status is for
	// the caller to read.
	if err := s.Send(&ndxpv1.SendDocumentRequest{Part: &ndxpv1.SendDocumentRequest_Header{Header: hdr}}); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if err := s.Send(&ndxpv1.SendDocumentRequest{Part: &ndxpv1.SendDocumentRequest_Chunk{Chunk: &ndxpv1.AttachmentChunk{Data: []byte{1}}}}); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return s
}

func TestUploadIdleLimitAbortsAndRemovesFile(t *testing.T) {
	h := hubtest.StartWith(t, func(c *server.Config) { c.Limits.UploadIdle = server.Duration(300 * time.Millisecond) })
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h.Agency(codeH41, "UBND tỉnh Nghệ An")
	s := stalledUpload(t, g22, codeH41)
	err := s.RecvMsg(new(ndxpv1.SendDocumentResponse)) // the hub's answer, the stream left open
	wantLimit(t, "stalled upload", err, "upload_idle")
	if files := tmpUploads(t, h); len(files) != 0 {
		t.Errorf("upload files left after the abort: %v", files)
	}
}

func TestStreamCapsPerAgency(t *testing.T) {
	h := hubtest.StartWith(t, func(c *server.Config) { c.Limits.Uploads = 2; c.Limits.Fetches = 1 })
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	h14 := h.Agency(codeH14, "UBND tỉnh Cao Bằng")

	held := []ndxpv1.ExchangeService_SendDocumentClient{stalledUpload(t, g22, codeH41), stalledUpload(t, g22, codeH41)}
	// The hub runs each stream's handler on its own: wait until both
	// uploads have their files, so the third is surely the third.
	for start := time.Now(); len(tmpUploads(t, h)) < 2; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > time.Minute {
			t.Fatal("the two uploads never reached the hub")
		}
	}
	// The third upload is refused at once; the stream caps count per agency.
	third := stalledUpload(t, g22, codeH41)
	err := third.RecvMsg(new(ndxpv1.SendDocumentResponse))
	wantLimit(t, "third concurrent upload", err, "uploads")
	if _, err := h14.Send(t.Context(), &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Vẫn gửi được", Number: "2/CB"}, nil); err != nil {
		t.Errorf("another agency's send while G22 is at its cap: %v", err)
	}
	for _, s := range held {
		s.CloseSend()
	}
	// Once they end, the agency may upload again.
	if _, err := g22.Send(t.Context(), &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Sau giới hạn", Number: "3/VP"},
		[]client.Attachment{{Name: "b.pdf", Body: bytes.NewReader(randomBytes(t, 16<<20))}}); err != nil {
		t.Fatalf("send after the held uploads ended: %v", err)
	}

	// One fetch at a time: a second while the first is held is refused.
	list, err := h41.Exchange.ListReceived(t.Context(), &ndxpv1.ListReceivedRequest{})
	if err != nil || len(list.GetDocuments()) == 0 {
		t.Fatalf("list received: %v", err)
	}
	id := list.GetDocuments()[0].GetDocument().GetId()
	first, err := h41.Exchange.FetchAttachment(t.Context(), &ndxpv1.FetchAttachmentRequest{DocumentId: id})
	if err != nil {
		t.Fatal(err)
	}
	// 16 MiB do not fit gRPC's flow-control window: unread, the stream
	// stays open on the hub.
	if _, err := first.Recv(); err != nil {
		t.Fatal(err)
	}
	second, err := h41.Exchange.FetchAttachment(t.Context(), &ndxpv1.FetchAttachmentRequest{DocumentId: id})
	if err == nil {
		_, err = second.Recv()
	}
	wantLimit(t, "second concurrent fetch", err, "fetches")
}

func TestSendRateThrottlesOneAgency(t *testing.T) {
	h := hubtest.StartWith(t, func(c *server.Config) { c.Limits.SendRate = 1; c.Limits.SendBurst = 3 })
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h14 := h.Agency(codeH14, "UBND tỉnh Cao Bằng")
	h.Agency(codeH41, "UBND tỉnh Nghệ An")
	hdr := func(c, n string) *ndxpv1.DocumentHeader {
		return &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Nhịp gửi", Number: n + "/" + c}
	}
	for i := range 3 {
		if _, err := g22.Send(t.Context(), hdr("VP", fmt.Sprint(i+1)), nil, client.WithAttempts(1)); err != nil {
			t.Fatalf("send %d within the burst: %v", i+1, err)
		}
	}
	_, err := g22.Send(t.Context(), hdr("VP", "4"), nil, client.WithAttempts(1))
	wantLimit(t, "send past the burst", err, "send_rate")
	if _, err := h14.Send(t.Context(), hdr("CB", "1"), nil); err != nil {
		t.Errorf("another agency throttled with G22: %v", err)
	}
	// A retry of an accepted send is not a new document: it gets its receipt.
	if r, err := g22.Send(t.Context(), hdr("VP", "1"), nil, client.WithAttempts(1)); err != nil || !r.GetDuplicate() {
		t.Errorf("retry of an accepted send while throttled: %v, %v; want its first receipt", r, err)
	}
}

func TestQuotaOfBytesWaiting(t *testing.T) {
	const quota = 256 << 10
	h := hubtest.StartWith(t, func(c *server.Config) { c.Limits.RecipientQuota = quota; c.Limits.SenderQuota = 400 << 10 })
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	h.Agency(codeH14, "UBND tỉnh Cao Bằng")
	send := func(to, n string) error {
		_, err := g22.Send(t.Context(), &ndxpv1.DocumentHeader{Recipients: []string{to}, Subject: "Hạn mức", Number: n + "/VP"},
			[]client.Attachment{{Name: "a.bin", Body: bytes.NewReader(randomBytes(t, 100<<10))}}, client.WithAttempts(1))
		return err
	}
	for i := range 2 {
		if err := send(codeH41, fmt.Sprint(i+1)); err != nil {
			t.Fatalf("send %d within the quota: %v", i+1, err)
		}
	}
	wantLimit(t, "third document to a recipient that takes nothing", send(codeH41, "3"), "recipient_quota")
	if err := send(codeH14, "4"); err != nil {
		t.Errorf("a document to another recipient: %v", err)
	}
	// Taking the documents frees the recipient's quota.
	drain(t, h41)
	if err := send(codeH41, "5"); err != nil {
		t.Errorf("send after the recipient took its documents: %v", err)
	}
	// The sender's own quota counts every recipient's waiting bytes: four
	// documents of about 100 KiB pass 400 KiB.
	if err := send(codeH14, "6"); err != nil {
		t.Fatalf("send 6: %v", err)
	}
	wantLimit(t, "a sender past its quota", send(codeH41, "7"), "sender_quota")
}

func TestListPagesBoundedByBytes(t *testing.T) {
	h := hubtest.StartWith(t, func(c *server.Config) { c.Limits.ListBytes = 50 << 10 })
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h.Agency(codeH41, "UBND tỉnh Nghệ An")
	content := strings.Repeat("a", 30000) // about 30 KB a header
	for i := range 5 {
		if _, err := g22.Send(t.Context(), &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Trang", Number: fmt.Sprint(i+1) + "/VP", Content: content}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var pages []int
	token := ""
	for {
		r, err := g22.Exchange.ListSent(t.Context(), &ndxpv1.ListSentRequest{PageSize: 500, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(r.GetDocuments()))
		if token = r.GetNextPageToken(); token == "" {
			break
		}
	}
	if fmt.Sprint(pages) != "[2 2 1]" {
		t.Errorf("pages of %v documents, want [2 2 1]: a page stops once it holds 50 KiB", pages)
	}
}

func TestHeaderSizeLimit(t *testing.T) {
	h := hubtest.StartWith(t, func(c *server.Config) { c.Limits.HeaderBytes = 8 << 10 })
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h.Agency(codeH41, "UBND tỉnh Nghệ An")
	_, err := g22.Send(t.Context(), &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Lớn", Number: "1/VP", Content: strings.Repeat("a", 9<<10)}, nil, client.WithAttempts(1))
	wantLimit(t, "9 KiB header", err, "header_bytes")
	if !strings.Contains(status.Convert(err).Message(), "8192") {
		t.Errorf("refusal %q does not name the limit's value", status.Convert(err).Message())
	}
}

// TestUploadMemorySpillsToFiles: many small attachments of one upload are
// not all held in memory; those past the bound are written as files, and
// every body still arrives intact.
func TestUploadMemorySpillsToFiles(t *testing.T) {
	h := hubtest.StartWith(t, func(c *server.Config) { c.Limits.UploadMemory = 100 << 10 })
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	var atts []client.Attachment
	want := map[string][]byte{}
	for i := range 6 {
		b := randomBytes(t, 40<<10)
		name := fmt.Sprintf("p%d.bin", i)
		want[name] = b
		atts = append(atts, client.Attachment{Name: name, Body: bytes.NewReader(b)})
	}
	r, err := g22.Send(t.Context(), &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Nhiều tệp nhỏ", Number: "1/VP"}, atts)
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, b := range want {
		if _, err := os.Stat(filepath.Join(h.DataDir, server.BlobDir, blobName(b))); err == nil {
			files++
		}
	}
	if files != 4 { // two fit in 100 KiB; the other four spill
		t.Errorf("%d of 6 small bodies written as files, want 4", files)
	}
	got := drain(t, h41)
	for name, b := range want {
		if !bytes.Equal(got.files[r.GetDocumentId()+"/"+name], b) {
			t.Errorf("attachment %s arrived changed", name)
		}
	}
}

// blobName is where the hub keeps a body written as a file.
func blobName(b []byte) string {
	sum := fmt.Sprintf("%x", sha256.Sum256(b))
	return filepath.Join(sum[:2], sum)
}

// TestConnectionFlood: thousands of TCP connections that never start TLS
// take at most their address's share of the hub; an agency already
// connected, and one connecting from elsewhere meanwhile, still exchange.
func TestConnectionFlood(t *testing.T) {
	const flood, perHost = 3000, 200
	h := hubtest.StartWith(t, func(c *server.Config) {
		c.MaxConnsPerHost = perHost
		c.HandshakeTimeout = server.Duration(time.Minute) // the flood outlives the test: only the caps protect
	})
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h.AddAgency(codeH41, "UBND tỉnh Nghệ An", ndxpv1.Stage_STAGE_PILOT)
	h41Creds := h.IssueCreds(codeH41)

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		for _, c := range open {
			c.Close()
		}
	})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for range flood / 8 {
				c, err := d.Dial("tcp", h.Daemon.GRPCAddr())
				if err != nil {
					t.Errorf("flood dial (worker %d): %v", w, err)
					return
				}
				mu.Lock()
				open = append(open, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// The hub closes all but perHost of them as it accepts them, which may
	// be after the dials returned (the kernel completes the handshakes
	// first): look again at those still open until enough closed, with a
	// minute as a safety net.
	closed := 0
	buf := make([]byte, 1)
	for start := time.Now(); closed < flood-perHost && time.Since(start) < time.Minute; {
		still := open[:0]
		for _, c := range open {
			c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			if _, err := c.Read(buf); err == io.EOF || isReset(err) {
				closed++
				c.Close()
				continue
			}
			still = append(still, c)
		}
		open = still
	}
	if closed < flood-perHost {
		t.Errorf("the hub closed %d of %d flood connections, want at least %d", closed, flood, flood-perHost)
	}

	// A new agency connection from another address, and the old one, work.
	h41 := h.Dial(h41Creds)
	if _, err := g22.Send(t.Context(), &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Giữa cơn lũ kết nối", Number: "1/VP"}, nil); err != nil {
		t.Fatalf("send during the flood: %v", err)
	}
	if got := drain(t, h41); len(got.events) != 1 {
		t.Errorf("received %d events during the flood, want 1", len(got.events))
	}
	if n := scrape(t, h)[`ndxp_limit_refusals_total{limit="connections"}`]; n < flood-perHost {
		t.Errorf("ndxp_limit_refusals_total{limit=\"connections\"} = %v, want at least %d", n, flood-perHost)
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "broken pipe"))
}

// TestAdminsKeepRoom: when agencies' connections fill the budget, the
// last few places are kept for admins, so an operator can still reach the
// hub to act.
func TestAdminsKeepRoom(t *testing.T) {
	// 20 connections: 5 kept for admins (a quarter, at most 32).
	h := hubtest.StartWith(t, func(c *server.Config) { c.MaxConns = 20 })
	h.AddAgency(codeG22, "Văn phòng Chính phủ", ndxpv1.Stage_STAGE_PILOT)
	creds := h.IssueCreds(codeG22) // its admin connection closes with the call's client at the end
	var agencies []*client.Client
	call := func(c *client.Client) error {
		_, err := c.Directory.LookupAgency(t.Context(), &ndxpv1.LookupAgencyRequest{Code: codeG22})
		return err
	}
	for i := range 20 {
		c := h.Dial(creds) // each client is a connection of its own
		if err := call(c); err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("agency connection %d refused with %v, want Unavailable", i+1, err)
			}
			break
		}
		agencies = append(agencies, c)
	}
	if n := len(agencies); n == 0 || n > 15 {
		t.Fatalf("%d agency connections held, want some and at most 15 of 20", n)
	}
	admin := h.Admin()
	if _, err := admin.Registry.GetOverview(t.Context(), &ndxpv1.GetOverviewRequest{}); err != nil {
		t.Errorf("an admin with agencies holding every other place: %v", err)
	}
}
