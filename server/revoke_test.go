package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	"github.com/ndxp/ndxp/internal/pki"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
)

// endWithin is how soon a held stream must end after its caller's
// credential is revoked or its agency suspended: at once when the handler
// sees it, after endGrace (500 ms) and a connection close when the
// handler is stuck in the transport.
const endWithin = 2 * time.Second

// streamHub is a fresh hub and the credential whose stream it holds.
type streamHub struct {
	h      *hubtest.Hub
	admin  *client.Client // acts: revokes and suspends; never revoked itself
	creds  string         // the credential whose stream is held
	serial string
	code   string // its agency; "" for a second admin
	doc    string // a document codeG22 sent codeH41 with a 4 MiB attachment, when the stream needs one
}

// heldStream is an open stream and how to see it end.
type heldStream struct {
	// end blocks until the stream ends and returns its status.
	end func() error
	// stuck: the handler is blocked in the transport (sending to a client
	// that does not read, or waiting for one that does not write), so the
	// hub ends the stream by closing its connection; end returns once the
	// connection is gone, and the client sees Unavailable or Canceled.
	stuck bool
}

// streamCase opens one kind of stream on a hub.
type streamCase struct {
	name   string
	admin  bool // an admin's stream: a second admin credential, revoked by serial
	bigDoc bool // the hub needs doc
	edit   func(*server.Config)
	open   func(ctx context.Context, t *testing.T, s *streamHub) heldStream
}

// TestStreamsEndOnRevocation opens each kind of stream the hub holds,
// revokes its caller's credential (by serial or by code) or suspends its
// agency, and checks that the stream ends within endWithin, with the
// reason as status where the handler can return it, and that the
// credential's next call is refused.
func TestStreamsEndOnRevocation(t *testing.T) {
	streams := []streamCase{
		{name: "Subscribe", open: openSubscribe},
		{name: "Receive", open: openReceive},
		{name: "SendDocuments", open: openSendDocuments},
		{name: "FetchAttachment not read", bigDoc: true, open: openStuckFetch},
		{name: "SendDocument mid-upload", edit: func(c *server.Config) { c.Limits.Uploads = 1 }, open: openUpload},
		{name: "Health.Watch", open: openHealthWatch},
		{name: "ServerReflectionInfo idle", open: openReflection},
		{name: "WatchSnapshot", admin: true, open: openWatchSnapshot},
		{name: "Backup not read", admin: true, bigDoc: true, open: openStuckBackup},
	}
	actions := []struct {
		name       string
		agencyOnly bool
		do         func(ctx context.Context, s *streamHub) error
		code       codes.Code
		word       string // in the status message
	}{
		{"revoke by serial", false, func(ctx context.Context, s *streamHub) error {
			_, err := s.admin.Registry.RevokeCredential(ctx, &ndxpv1.RevokeCredentialRequest{CredentialId: s.serial})
			return err
		}, codes.Unauthenticated, "revoked"},
		{"revoke by code", true, func(ctx context.Context, s *streamHub) error {
			_, err := s.admin.Registry.RevokeCredential(ctx, &ndxpv1.RevokeCredentialRequest{Code: s.code})
			return err
		}, codes.Unauthenticated, "revoked"},
		{"suspend", true, func(ctx context.Context, s *streamHub) error {
			_, err := s.admin.Registry.SuspendAgency(ctx, &ndxpv1.SuspendAgencyRequest{Code: s.code, Reason: "kiểm tra an toàn"})
			return err
		}, codes.PermissionDenied, "suspended"},
	}
	for _, sc := range streams {
		for _, act := range actions {
			if act.agencyOnly && sc.admin {
				continue // an admin has no code and cannot be suspended
			}
			t.Run(sc.name+"/"+act.name, func(t *testing.T) {
				t.Parallel()
				s := newStreamHub(t, sc)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				held := sc.open(ctx, t, s)
				ended := make(chan error, 1)
				go func() { ended <- held.end() }()

				// The clock starts when the admin is told the change is
				// made: the hub ends the streams before it answers, and a
				// store commit's fsync on a busy disk is not what is
				// measured here.
				if err := act.do(testCtx(t), s); err != nil {
					t.Fatalf("%s: %v", act.name, err)
				}
				start := time.Now()
				var err error
				select {
				case err = <-ended:
				case <-time.After(endWithin):
					t.Fatalf("stream still open %v after %s", endWithin, act.name)
				}
				st := status.Convert(err)
				t.Logf("ended %v after the change: %v", time.Since(start).Round(time.Millisecond), err)
				switch {
				case held.stuck:
					if st.Code() != codes.Unavailable && st.Code() != codes.Canceled {
						t.Errorf("stuck stream ended with %v (%q), want its connection closed: Unavailable or Canceled", st.Code(), st.Message())
					}
				case st.Code() != act.code || !strings.Contains(st.Message(), act.word):
					t.Errorf("stream ended with %v (%q), want %v saying %q", st.Code(), st.Message(), act.code, act.word)
				}
				checkRefused(t, s, act.code, act.word)
			})
		}
	}
}

// newStreamHub starts a hub with agencies codeG22 and codeH41 and the
// credential the case's stream is held by: codeG22's, or a second admin's.
func newStreamHub(t *testing.T, sc streamCase) *streamHub {
	t.Helper()
	h := hubtest.StartWith(t, func(c *server.Config) {
		if sc.edit != nil {
			sc.edit(c)
		}
	})
	s := &streamHub{h: h, admin: h.Admin()}
	h.AddAgency(codeG22, "Văn phòng Chính phủ", pilot)
	h.AddAgency(codeH41, "UBND tỉnh Nghệ An", pilot)
	g22 := h.IssueCreds(codeG22)
	if sc.admin {
		s.creds, s.serial = secondAdmin(t, h, "second")
	} else {
		s.creds, s.serial, s.code = g22, credSerial(t, g22), codeG22
	}
	if sc.bigDoc {
		// 4 MiB: far more than a 64 KiB flow-control window, so a
		// client that does not read leaves the hub's handler blocked.
		r, err := h.Dial(g22).Send(testCtx(t), &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Hồ sơ lớn", Number: "1/HS"},
			[]client.Attachment{{Name: "ho-so.bin", Body: bytes.NewReader(randomBytes(t, 4<<20))}})
		if err != nil {
			t.Fatalf("send the large document: %v", err)
		}
		s.doc = r.GetDocumentId()
	}
	return s
}

// checkRefused checks that a new connection with the credential is
// refused with code, and that the admin who acted still works.
func checkRefused(t *testing.T, s *streamHub, code codes.Code, word string) {
	t.Helper()
	c := s.h.Dial(s.creds)
	var err error
	if s.code == "" {
		_, err = c.Registry.GetOverview(testCtx(t), &ndxpv1.GetOverviewRequest{})
	} else {
		_, err = c.Directory.LookupAgency(testCtx(t), &ndxpv1.LookupAgencyRequest{Code: codeH41})
	}
	checkStatus(t, "a new call with the credential", err, code, word)
	if _, err := s.admin.Registry.GetOverview(testCtx(t), &ndxpv1.GetOverviewRequest{}); err != nil {
		t.Errorf("the acting admin after the change: %v", err)
	}
}

// recvAll reads a stream until it ends and returns its status.
func recvAll(recv func() error) func() error {
	return func() error {
		for {
			if err := recv(); err != nil {
				return err
			}
		}
	}
}

func openSubscribe(ctx context.Context, t *testing.T, s *streamHub) heldStream {
	t.Helper()
	st, err := s.h.Dial(s.creds).Exchange.Subscribe(ctx, &ndxpv1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil || m.GetCaughtUp() == nil {
		t.Fatalf("first message of the subscription: %v, %v; want caught up", m, err)
	}
	return heldStream{end: recvAll(func() error { _, err := st.Recv(); return err })}
}

func openReceive(ctx context.Context, t *testing.T, s *streamHub) heldStream {
	t.Helper()
	st, err := s.h.Dial(s.creds).Exchange.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&ndxpv1.ReceiveRequest{Message: &ndxpv1.ReceiveRequest_Open{Open: &ndxpv1.SubscribeRequest{}}}); err != nil {
		t.Fatal(err)
	}
	m, err := st.Recv()
	if err != nil || m.GetCaughtUp() == nil {
		t.Fatalf("first message of the subscription: %v, %v; want caught up", m, err)
	}
	return heldStream{end: recvAll(func() error { _, err := st.Recv(); return err })}
}

// openSendDocuments holds a pipelined send stream that has sent a document.
func openSendDocuments(ctx context.Context, t *testing.T, s *streamHub) heldStream {
	t.Helper()
	st, err := s.h.Dial(s.creds).Exchange.SendDocuments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&ndxpv1.SendDocumentsRequest{Part: &ndxpv1.SendDocumentsRequest_Header{Header: &ndxpv1.DocumentHeader{
		Recipients: []string{codeH41}, Subject: "Trước khi thu hồi", Number: "1/PL",
	}}}); err != nil {
		t.Fatal(err)
	}
	if m, err := st.Recv(); err != nil || m.GetReceipt() == nil {
		t.Fatalf("the first document: %v, %v; want its receipt", m, err)
	}
	return heldStream{end: recvAll(func() error { _, err := st.Recv(); return err })}
}

func openHealthWatch(ctx context.Context, t *testing.T, s *streamHub) heldStream {
	t.Helper()
	st, err := healthpb.NewHealthClient(s.h.Dial(s.creds).Conn()).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := st.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first health status: %v, %v; want SERVING", m, err)
	}
	return heldStream{end: recvAll(func() error { _, err := st.Recv(); return err })}
}

func openWatchSnapshot(ctx context.Context, t *testing.T, s *streamHub) heldStream {
	t.Helper()
	st, err := s.h.Dial(s.creds).Monitor.WatchSnapshot(ctx, &ndxpv1.WatchSnapshotRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatalf("first snapshot: %v", err)
	}
	return heldStream{end: recvAll(func() error { _, err := st.Recv(); return err })}
}

// openUpload sends a header and the first chunk of a 1 MiB attachment,
// then waits. The hub answers nothing until the upload ends, so the
// stream is known held when a second upload is refused by the cap of one
// (the case's configuration). The second is tried only once the hub has
// seen the first authenticated (the agency's last-seen time): tried
// earlier, it could take the one place and have the first refused.
func openUpload(ctx context.Context, t *testing.T, s *streamHub) heldStream {
	t.Helper()
	c := s.h.Dial(s.creds)
	body := randomBytes(t, 1<<20)
	sum := sha256.Sum256(body)
	st, err := c.Exchange.SendDocument(ctx)
	if err != nil {
		t.Fatal(err)
	}
	parts := []*ndxpv1.SendDocumentRequest{
		{Part: &ndxpv1.SendDocumentRequest_Header{Header: &ndxpv1.DocumentHeader{
			Recipients: []string{codeH41}, Subject: "Đang tải lên", Number: "1/TL",
			Attachments: []*ndxpv1.AttachmentInfo{{Name: "a.bin", Size: int64(len(body)), Sha256: sum[:]}},
		}}},
		{Part: &ndxpv1.SendDocumentRequest_Chunk{Chunk: &ndxpv1.AttachmentChunk{Data: body[:64<<10]}}},
	}
	for _, p := range parts {
		if err := st.Send(p); err != nil {
			t.Fatalf("upload: %v", err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); s.h.Daemon.Hub().Presence(s.code).LastSeen.IsZero(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the hub never saw the upload")
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		probe, err := c.Exchange.SendDocument(ctx)
		if err != nil {
			t.Fatal(err)
		}
		probe.Send(parts[0])
		_, err = probe.CloseAndRecv()
		if status.Code(err) == codes.ResourceExhausted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a second upload: %v; want ResourceExhausted while the first is held", err)
		}
	}
	// RecvMsg, not CloseAndRecv: closing the sending side would end the
	// upload (incomplete) whatever the revocation does.
	return heldStream{end: func() error { return st.RecvMsg(new(ndxpv1.SendDocumentResponse)) }}
}

// openReflection asks reflection for the services, then sends nothing
// more: the handler waits in the transport for the next request.
func openReflection(ctx context.Context, t *testing.T, s *streamHub) heldStream {
	t.Helper()
	conn := s.h.Dial(s.creds).Conn()
	st, err := reflectionv1.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatalf("reflection: %v", err)
	}
	return stuckStream(ctx, t, conn, func() error { _, err := st.Recv(); return err })
}

// openStuckFetch fetches the 4 MiB attachment and stops reading after the
// first chunk, so that the handler blocks sending.
func openStuckFetch(ctx context.Context, t *testing.T, s *streamHub) heldStream {
	t.Helper()
	conn := smallWindowConn(t, s)
	st, err := ndxpv1.NewExchangeServiceClient(conn).FetchAttachment(ctx, &ndxpv1.FetchAttachmentRequest{DocumentId: s.doc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // the handler fills the window and blocks
	return stuckStream(ctx, t, conn, func() error { _, err := st.Recv(); return err })
}

// openStuckBackup starts a backup (over 4 MiB with the large document)
// and stops reading after the first piece, so that the handler blocks
// sending.
func openStuckBackup(ctx context.Context, t *testing.T, s *streamHub) heldStream {
	t.Helper()
	conn := smallWindowConn(t, s)
	st, err := ndxpv1.NewMaintenanceServiceClient(conn).Backup(ctx, &ndxpv1.BackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil {
		t.Fatalf("first piece of the backup: %v", err)
	}
	if first.GetTotalBytes() < 4<<20 {
		t.Fatalf("backup of %d bytes; want more than the 4 MiB attachment", first.GetTotalBytes())
	}
	time.Sleep(300 * time.Millisecond) // the handler fills the window and blocks
	return stuckStream(ctx, t, conn, func() error { _, err := st.Recv(); return err })
}

// stuckStream is a stream whose handler is blocked in the transport: it
// ends when the hub closes conn, after which recv drains what was
// buffered and returns the stream's status.
func stuckStream(ctx context.Context, t *testing.T, conn *grpc.ClientConn, recv func() error) heldStream {
	t.Helper()
	if s := conn.GetState(); s != connectivity.Ready {
		t.Fatalf("connection %v before the change, want READY", s)
	}
	return heldStream{stuck: true, end: func() error {
		if !conn.WaitForStateChange(ctx, connectivity.Ready) {
			return errors.New("the connection stayed open")
		}
		return recvAll(recv)()
	}}
}

// smallWindowConn dials with s's credential and fixed 64 KiB
// flow-control windows (gRPC otherwise grows them up to 16 MiB for a fast
// peer), like a client that reads slowly.
func smallWindowConn(t *testing.T, s *streamHub) *grpc.ClientConn {
	t.Helper()
	creds, err := pki.ReadCreds(s.creds)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(s.h.Daemon.GRPCAddr(),
		grpc.WithTransportCredentials(credentials.NewTLS(creds.ClientTLS())),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
