package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hub"
	"github.com/ndxp/ndxp/internal/hubtest"
	"github.com/ndxp/ndxp/internal/store"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
)

// purgeChunks is a hub.ChunkSource over whole bodies, 64 KiB a chunk.
type purgeChunks struct{ chunks []hub.Chunk }

func (p *purgeChunks) Next() (hub.Chunk, error) {
	if len(p.chunks) == 0 {
		return hub.Chunk{}, io.EOF
	}
	c := p.chunks[0]
	p.chunks = p.chunks[1:]
	return c, nil
}

// seededPurge describes the documents seedPurge stored 400 days ago.
type seededPurge struct {
	completed, inProgress string
	bodies                [][]byte // of completed: an inline and a file body
}

// seedPurge writes, into a data directory, documents accepted 400 days
// ago (the test hub's clock is the real one): one completed, one still in
// progress. It runs the hub core directly with a clock set in the past.
func seedPurge(t *testing.T, dir string) seededPurge {
	t.Helper()
	ctx := t.Context()
	st, err := store.OpenBolt(filepath.Join(dir, server.StoreFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	files, err := store.OpenFiles(filepath.Join(dir, server.BlobDir))
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-400 * 24 * time.Hour)
	cfg := hub.DefaultConfig()
	cfg.Now = func() time.Time { return past }
	h, err := hub.New(ctx, st, files, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Drain()
	for code, name := range map[string]string{codeG22: "Văn phòng Chính phủ", codeH41: "UBND tỉnh Nghệ An"} {
		if _, err := h.CreateAgency(ctx, hub.Agency{Code: code, Name: name, Stage: hub.StagePilot}); err != nil {
			t.Fatal(err)
		}
	}
	send := func(subject string, bodies ...[]byte) string {
		var atts []hub.AttachmentInfo
		src := &purgeChunks{}
		for i, b := range bodies {
			sum := sha256.Sum256(b)
			atts = append(atts, hub.AttachmentInfo{Name: fmt.Sprintf("phu-luc-%d.pdf", i), Size: int64(len(b)), SHA256: sum[:]})
			for off := 0; off < len(b); off += 64 << 10 {
				src.chunks = append(src.chunks, hub.Chunk{Index: i, Offset: int64(off), Data: b[off:min(off+64<<10, len(b))]})
			}
		}
		r, err := h.Send(ctx, hub.Principal{Name: codeG22}, hub.Header{Recipients: []string{codeH41}, Number: subject, Subject: subject, Attachments: atts}, src)
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		v, err := h.Trace(ctx, hub.Principal{Admin: true, Name: "seed"}, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Acknowledge(ctx, hub.Principal{Name: codeH41}, []uint64{v.Deliveries[0].QueueSeq}); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	s := seededPurge{bodies: [][]byte{randomBytes(t, 1000), randomBytes(t, 300<<10)}}
	s.completed = send("Công văn đã hoàn thành", s.bodies...)
	if _, err := h.ReportStatus(ctx, hub.Principal{Name: codeH41}, hub.StatusRequest{DocID: s.completed, Code: hub.StatusCompleted}); err != nil {
		t.Fatal(err)
	}
	s.inProgress = send("Công văn đang xử lý", randomBytes(t, 2000))
	if _, err := h.ReportStatus(ctx, hub.Principal{Name: codeH41}, hub.StatusRequest{DocID: s.inProgress, Code: hub.StatusProcessing}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPurgeRPC(t *testing.T) {
	dir := t.TempDir()
	seed := seedPurge(t, dir)
	h := hubtest.StartDir(t, dir)
	ctx := testCtx(t)
	maint := ndxpv1.NewMaintenanceServiceClient(h.Admin().Conn())
	h41 := h.Dial(h.IssueCreds(codeH41))

	// Only admins; older_than_days is checked.
	_, err := ndxpv1.NewMaintenanceServiceClient(h41.Conn()).Purge(ctx, &ndxpv1.PurgeRequest{OlderThanDays: 1, DryRun: true})
	checkStatus(t, "purge as an agency", err, codes.PermissionDenied)
	for _, days := range []int32{0, -1, hub.MaxRetentionDays + 1} {
		_, err := maint.Purge(ctx, &ndxpv1.PurgeRequest{OlderThanDays: days})
		checkStatus(t, fmt.Sprintf("purge older_than_days %d", days), err, codes.InvalidArgument)
		if got := violations(err); !slices.Equal(got, []string{"older_than_days"}) {
			t.Errorf("purge older_than_days %d: field violations %v, want [older_than_days]", days, got)
		}
	}

	want := &ndxpv1.PurgeResponse{
		Documents: []*ndxpv1.PurgedDocument{{DocumentId: seed.completed, SenderCode: codeG22, Subject: "Công văn đã hoàn thành",
			Bytes: int64(len(seed.bodies[0]) + len(seed.bodies[1]))}},
		BytesFreed: int64(len(seed.bodies[0]) + len(seed.bodies[1])),
		DryRun:     true,
	}
	opts := cmp.Options{protocmp.Transform(), protocmp.IgnoreFields(&ndxpv1.PurgedDocument{}, "create_time")}
	dry, err := maint.Purge(ctx, &ndxpv1.PurgeRequest{OlderThanDays: 365, DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if diff := cmp.Diff(want, dry, opts); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	if ct := dry.GetDocuments()[0].GetCreateTime().AsTime(); time.Since(ct) < 399*24*time.Hour {
		t.Errorf("create_time %v, want about 400 days ago", ct)
	}
	var buf bytes.Buffer
	if _, err := h41.Fetch(ctx, seed.completed, 1, &buf); err != nil || !bytes.Equal(buf.Bytes(), seed.bodies[1]) {
		t.Fatalf("fetch after the dry run: %v", err)
	}

	got, err := maint.Purge(ctx, &ndxpv1.PurgeRequest{OlderThanDays: 365})
	if err != nil {
		t.Fatalf("purge: %v", err)
	}
	want.DryRun = false
	if diff := cmp.Diff(want, got, opts); diff != "" {
		t.Errorf("purge (-want +got):\n%s", diff)
	}
	for i := range seed.bodies {
		_, err := h41.Fetch(ctx, seed.completed, i, io.Discard)
		checkStatus(t, fmt.Sprintf("fetch attachment %d after the purge", i), err, codes.NotFound, "retention policy")
	}
	if d, err := h41.Document(ctx, seed.completed); err != nil || len(d.GetHeader().GetAttachments()) != 2 {
		t.Errorf("the purged document's header: %v, %v", err, d)
	}
	if tr, err := h41.Trace(ctx, seed.completed); err != nil || len(tr.GetRecipients()) != 1 {
		t.Errorf("the purged document's trace: %v, %v", err, tr)
	}
	if _, err := h41.Fetch(ctx, seed.inProgress, 0, io.Discard); err != nil {
		t.Errorf("the document in progress lost its attachment: %v", err)
	}
	again, err := maint.Purge(ctx, &ndxpv1.PurgeRequest{OlderThanDays: 365})
	if err != nil || len(again.GetDocuments()) != 0 || again.GetBytesFreed() != 0 {
		t.Errorf("second purge: %v, %v", err, again)
	}
	check, err := maint.CheckStore(ctx, &ndxpv1.CheckStoreRequest{})
	if err != nil || len(check.GetProblems()) > 0 {
		t.Errorf("check after the purge: %v, %v", err, check.GetProblems())
	}
}

// TestPurgeConfiguredRetention: with --retention-days, older_than_days 0
// uses it.
func TestPurgeConfiguredRetention(t *testing.T) {
	dir := t.TempDir()
	seed := seedPurge(t, dir)
	cfg := server.DefaultConfig()
	cfg.Dev, cfg.DataDir = true, dir
	cfg.Listen, cfg.HTTP = "127.0.0.1:0", ""
	cfg.RetentionDays = 365
	cfg.Logger = slog.New(slog.DiscardHandler)
	d, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	admin, err := client.Dial(context.Background(), d.AdminCredsPath(), client.WithAddress(d.GRPCAddr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	if got := d.Hub().RetentionDays(); got != 365 {
		t.Errorf("hub retention %d days, want 365", got)
	}
	resp, err := ndxpv1.NewMaintenanceServiceClient(admin.Conn()).Purge(testCtx(t), &ndxpv1.PurgeRequest{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetDocuments()) != 1 || resp.GetDocuments()[0].GetDocumentId() != seed.completed {
		t.Errorf("dry run with the configured retention: %v, want only %s", resp.GetDocuments(), seed.completed)
	}
}

func TestRetentionDaysConfig(t *testing.T) {
	for _, tc := range []struct {
		days int
		ok   bool
	}{{0, true}, {30, true}, {-1, false}, {hub.MaxRetentionDays + 1, false}} {
		cfg := server.DefaultConfig()
		cfg.Dev = true
		cfg.RetentionDays = tc.days
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("retention_days %d: Validate() = %v, want ok %v", tc.days, err, tc.ok)
		}
	}
}
