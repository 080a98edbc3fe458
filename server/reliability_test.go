package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	"github.com/ndxp/ndxp/internal/store"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
)

// body makes deterministic attachment bytes from a name.
func body(name string, n int) []byte {
	b := make([]byte, n)
	seed := sha256.Sum256([]byte(name))
	for i := range b {
		b[i] = seed[i%32] ^ byte(i/32)
	}
	return b
}

type sentDoc struct {
	id, ref  string
	att      []byte
	receipts time.Time
}

// TestBackupUnderLoadRestores takes a backup while agencies keep sending,
// restores it into a new data directory, starts a hub there, and finds
// every document receipted before the backup began, byte for byte.
func TestBackupUnderLoadRestores(t *testing.T) {
	h := hubtest.Start(t)
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h.Agency(codeH41, "UBND tỉnh Nghệ An")
	h41Creds := h.IssueCreds(codeH41)
	admin := h.Admin()

	ctx, stop := context.WithCancel(context.Background())
	var mu sync.Mutex
	var sent []sentDoc
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				ref := fmt.Sprintf("%s,2026/11/27,%d-%d/BK", codeG22, w, i)
				size := 1 << 10
				if i%4 == 0 {
					size = 150 << 10 // a file beside the store
				}
				att := body(ref, size)
				r, err := g22.Send(context.Background(), &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Sao lưu " + ref, Reference: ref},
					[]client.Attachment{{Name: "a.bin", Body: bytes.NewReader(att)}})
				if err != nil {
					t.Errorf("send %s: %v", ref, err)
					return
				}
				mu.Lock()
				sent = append(sent, sentDoc{id: r.GetDocumentId(), ref: ref, att: att, receipts: time.Now()})
				mu.Unlock()
			}
		}()
	}
	// Traffic before the backup: wait for receipts, not for a while, so a
	// slow machine still has documents for the restore to find (after
	// 700 ms it could have none, and the test failed).
	receipted := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(sent)
	}
	for deadline := time.Now().Add(2 * time.Minute); receipted() < 12; time.Sleep(10 * time.Millisecond) {
		if t.Failed() || time.Now().After(deadline) {
			stop()
			wg.Wait()
			t.Fatalf("%d documents receipted before the backup, want 12", receipted())
		}
	}

	backupStart := time.Now()
	archive := filepath.Join(t.TempDir(), "backup.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := ndxpv1.NewMaintenanceServiceClient(admin.Conn()).Backup(context.Background(), &ndxpv1.BackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var total, got int64
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("backup: %v", err)
		}
		if msg.GetTotalBytes() > 0 {
			total = msg.GetTotalBytes()
		}
		f.Write(msg.GetData())
		got += int64(len(msg.GetData()))
	}
	f.Close()
	time.Sleep(300 * time.Millisecond) // traffic after the backup
	stop()
	wg.Wait()
	if got != total || total == 0 {
		t.Fatalf("backup streamed %d bytes, announced %d", got, total)
	}

	// A restore refuses a directory that holds a store.
	af, _ := os.Open(archive)
	if _, err := server.Restore(context.Background(), af, h.DataDir, false); err == nil {
		t.Error("restore over a live data directory succeeded without --force")
	}
	af.Close()

	// A leftover write-ahead log counts as a store too; --force puts it
	// aside with the old store instead of replaying it onto the restored file.
	forced := t.TempDir()
	oldLog := store.LogDir(filepath.Join(forced, server.StoreFile))
	os.MkdirAll(oldLog, 0o700)
	os.WriteFile(filepath.Join(oldLog, "0000000000000001.wal"), []byte("not a log"), 0o600)
	for _, force := range []bool{false, true} {
		af, _ = os.Open(archive)
		_, err := server.Restore(context.Background(), af, forced, force)
		af.Close()
		if (err == nil) != force {
			t.Errorf("restore (force %v) over a leftover log: %v", force, err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(forced, server.StoreFile+".replaced-*-wal", "*.wal")); len(m) != 1 {
		t.Errorf("the old log was not put aside: %v", m)
	}

	dir := t.TempDir()
	af, _ = os.Open(archive)
	rep, err := server.Restore(context.Background(), af, dir, false)
	af.Close()
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	h2 := hubtest.StartDir(t, dir)
	// The restored dev CA makes the old credentials valid against the new hub.
	r41 := h2.Dial(h41Creds)
	var before []sentDoc
	mu.Lock()
	for _, s := range sent {
		if s.receipts.Before(backupStart) {
			before = append(before, s)
		}
	}
	mu.Unlock()
	if len(before) == 0 {
		t.Fatal("no document was receipted before the backup")
	}
	for _, s := range before {
		var buf bytes.Buffer
		if _, err := r41.Fetch(context.Background(), s.id, 0, &buf); err != nil {
			t.Errorf("document %s (%s) receipted before the backup: %v", s.id, s.ref, err)
			continue
		}
		if !bytes.Equal(buf.Bytes(), s.att) {
			t.Errorf("document %s: attachment differs after restore", s.id)
		}
	}
	ck, err := ndxpv1.NewMaintenanceServiceClient(h2.Admin().Conn()).CheckStore(context.Background(), &ndxpv1.CheckStoreRequest{})
	if err != nil || len(ck.GetProblems()) != 0 {
		t.Errorf("check after restore: %v %v", ck.GetProblems(), err)
	}
	t.Logf("backup of %d bytes under load: %d documents sent, %d before the backup, restored %d documents and %d files",
		total, len(sent), len(before), rep.Documents, rep.Bodies)
}

// TestDiskFullRefusesSendsAndRecovers runs a hub on a small tmpfs, fills
// it, and checks that sends fail with ResourceExhausted or Unavailable and
// a clear message, reads and subscriptions keep working, and sends succeed
// again by themselves once space returns.
func TestDiskFullRefusesSendsAndRecovers(t *testing.T) {
	dir := t.TempDir()
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", dir).Run(); err != nil {
		t.Skipf("cannot mount a small tmpfs here (needs root): %v", err)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	h := hubtest.StartDir(t, filepath.Join(dir, "data"))
	g22 := h.Agency(codeG22, "Văn phòng Chính phủ")
	h41 := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	ctx := context.Background()
	send := func(i, size int) (*ndxpv1.SendDocumentResponse, error) {
		ref := fmt.Sprintf("%s,2026/11/27,%d/DF", codeG22, i)
		return g22.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Đĩa đầy", Reference: ref},
			[]client.Attachment{{Name: "a.bin", Body: bytes.NewReader(body(ref, size))}}, client.WithAttempts(1))
	}
	first, err := send(0, 2<<10)
	if err != nil {
		t.Fatal(err)
	}

	filler := filepath.Join(dir, "filler")
	fill, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for {
		if _, err := fill.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	fill.Close()

	failed := 0
	for i := 1; i <= 6; i++ {
		size := 2 << 10
		if i%2 == 1 {
			size = 512 << 10 // certainly needs new space
		}
		_, err := send(i, size)
		if err == nil {
			continue // a small commit may still fit in pages the store had free
		}
		failed++
		if c := status.Code(err); c != codes.ResourceExhausted && c != codes.Unavailable {
			t.Errorf("send on a full disk: %v, want ResourceExhausted or Unavailable", err)
		}
		if c := status.Code(err); c == codes.ResourceExhausted && !bytes.Contains([]byte(status.Convert(err).Message()), []byte("full")) {
			t.Errorf("message %q does not say the storage is full", status.Convert(err).Message())
		}
	}
	if failed == 0 {
		t.Fatal("no send failed on a full disk")
	}
	// Reads and subscriptions keep working.
	if _, err := g22.Trace(ctx, first.GetDocumentId()); err != nil {
		t.Errorf("trace on a full disk: %v", err)
	}
	subCtx, cancel := context.WithTimeout(ctx, time.Minute) // a safety net; the event ends the wait
	seen := make(chan string, 10)
	go h41.Subscribe(subCtx, func(_ context.Context, ev *ndxpv1.Event) error {
		seen <- ev.GetDocumentId()
		return nil
	})
	select {
	case id := <-seen:
		if id != first.GetDocumentId() {
			t.Errorf("subscription on a full disk pushed %s, want %s", id, first.GetDocumentId())
		}
	case <-subCtx.Done():
		t.Error("no event pushed while the disk was full")
	}
	cancel()

	os.Remove(filler)
	if _, err := send(100, 512<<10); err != nil {
		t.Fatalf("send after space returned: %v", err)
	}
	ck, err := ndxpv1.NewMaintenanceServiceClient(h.Admin().Conn()).CheckStore(ctx, &ndxpv1.CheckStoreRequest{})
	if err != nil || len(ck.GetProblems()) != 0 {
		t.Errorf("check after the disk-full episode: %v %v", ck.GetProblems(), err)
	}
}

// slowReader yields n bytes slowly, so an upload is still running when the
// hub stops. With underway and hold set, it closes underway once it has
// yielded holdAt bytes and then waits for hold to close: the test stops the
// hub in between, whatever the machine's speed.
type slowReader struct {
	n, off   int64
	delay    time.Duration
	holdAt   int64
	underway chan struct{}
	hold     chan struct{}
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.off >= s.n {
		return 0, io.EOF
	}
	if s.underway != nil && s.off >= s.holdAt {
		close(s.underway)
		s.underway = nil
		<-s.hold
	}
	time.Sleep(s.delay)
	k := min(int64(len(p)), s.n-s.off, 64<<10)
	for i := range k {
		p[i] = byte(s.off + i)
	}
	s.off += k
	return int(k), nil
}

func (s *slowReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += s.off
	default:
		return 0, errors.New("no SeekEnd")
	}
	s.off = off
	return off, nil
}

// TestShutdownTellsUploadToRetry: SIGTERM during a large upload ends it
// with Unavailable ("retry"), the hub exits promptly, and the same send
// retried after the restart is accepted once.
func TestShutdownTellsUploadToRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ndxpd processes")
	}
	bin := hubtest.Binaries(t)
	dir := t.TempDir()
	grpcAddr, httpAddr := hubtest.FreeAddr(t), hubtest.FreeAddr(t)
	p := hubtest.StartProcess(t, bin, dir, grpcAddr, httpAddr)
	admin := p.Admin()
	for _, c := range []string{codeG22, codeH41} {
		if _, err := admin.Registry.CreateAgency(context.Background(), &ndxpv1.CreateAgencyRequest{Agency: &ndxpv1.Agency{Code: c, Name: c, Stage: ndxpv1.Stage_STAGE_PILOT}}); err != nil {
			t.Fatal(err)
		}
	}
	g22 := p.Dial(hubtest.IssueCreds(t, admin, codeG22, grpcAddr))
	h41Creds := hubtest.IssueCreds(t, admin, codeH41, grpcAddr)
	hdr := &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Tệp lớn", Reference: codeG22 + ",2026/11/27,1/UP"}
	const size = 24 << 20
	done := make(chan error, 1)
	// The upload holds after its first MiB until the hub has begun to stop.
	// (It slept 1.5 s instead: a fast machine could finish the upload first,
	// a slow one not have begun it.)
	underway, hold := make(chan struct{}), make(chan struct{})
	go func() {
		body := &slowReader{n: size, delay: 2 * time.Millisecond, holdAt: 1 << 20, underway: underway, hold: hold}
		_, err := g22.Send(context.Background(), hdr, []client.Attachment{{Name: "lon.bin", Body: body}}, client.WithAttempts(1))
		done <- err
	}()
	select {
	case <-underway:
	case err := <-done:
		t.Fatalf("the upload ended before it was under way: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the upload never got under way")
	}
	go func() {
		// The hub is stopping once /readyz no longer answers 200.
		defer close(hold)
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			res, err := http.Get("http://" + httpAddr + "/readyz")
			if err != nil {
				return
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return
			}
		}
	}()
	stopped := time.Now()
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("graceful stop during an upload: %v", err)
	}
	t.Logf("hub stopped %v after SIGTERM", time.Since(stopped).Round(time.Millisecond))
	err := <-done
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("upload cut by the shutdown: %v, want Unavailable", err)
	}
	p2 := hubtest.StartProcess(t, bin, dir, grpcAddr, httpAddr)
	r, err := g22.Send(context.Background(), hdr, []client.Attachment{{Name: "lon.bin", Body: &slowReader{n: size}}}, client.WithAttempts(10))
	if err != nil {
		t.Fatalf("retry after restart: %v", err)
	}
	if r.GetDuplicate() {
		t.Error("the cut upload was stored: the retry was answered as a duplicate")
	}
	h41 := p2.Dial(h41Creds)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	if err := h41.Subscribe(ctx, func(context.Context, *ndxpv1.Event) error { n++; return nil }, client.UntilCaughtUp()); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("recipient got %d documents, want 1", n)
	}
}
