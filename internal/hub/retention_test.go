package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ndxp/ndxp/internal/store"
)

const (
	codeG22 = "000.00.00.G22" // Văn phòng Chính phủ, the sender in these tests
	codeH41 = "000.00.00.H41"
	codeH14 = "000.00.00.H14"
)

var admin = Principal{Admin: true, Name: "ops"}

// fakeClock is a Config.Now the test moves forward.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// retentionHub starts a hub on a fresh store whose clock the test moves,
// keeping attachments over 1 KiB in files, with three agencies.
func retentionHub(t testing.TB, edit func(*Config)) (*Hub, *fakeClock) {
	t.Helper()
	st := openStore(t, filepath.Join(t.TempDir(), "ndxp.db"))
	files, err := store.OpenFiles(filepath.Join(filepath.Dir(st.Path()), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)}
	cfg := DefaultConfig()
	cfg.Now = clock.Now
	cfg.InlineLimit = 1 << 10
	if edit != nil {
		edit(&cfg)
	}
	h, err := New(t.Context(), st, files, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(h.Drain)
	mustCreate(t, h, codeG22, "Văn phòng Chính phủ", StagePilot)
	mustCreate(t, h, codeH41, "UBND tỉnh Nghệ An", StagePilot)
	mustCreate(t, h, codeH14, "UBND tỉnh Cao Bằng", StagePilot)
	return h, clock
}

// chunkList is a ChunkSource over prepared chunks.
type chunkList struct {
	chunks []Chunk
	next   int
}

func (c *chunkList) Next() (Chunk, error) {
	if c.next == len(c.chunks) {
		return Chunk{}, io.EOF
	}
	c.next++
	return c.chunks[c.next-1], nil
}

// uploadOf makes the attachment list and the chunks (1000 bytes each) of bodies.
func uploadOf(bodies ...[]byte) ([]AttachmentInfo, ChunkSource) {
	var atts []AttachmentInfo
	src := &chunkList{}
	for i, b := range bodies {
		sum := sha256.Sum256(b)
		atts = append(atts, AttachmentInfo{Name: fmt.Sprintf("file%d.pdf", i), MediaType: "application/pdf", Size: int64(len(b)), SHA256: sum[:]})
		for off := 0; off < len(b); off += 1000 {
			end := min(off+1000, len(b))
			src.chunks = append(src.chunks, Chunk{Index: i, Offset: int64(off), Data: b[off:end]})
		}
	}
	return atts, src
}

var docNumber int

// send has codeG22 send a document with these attachment bodies to recipients.
func send(t testing.TB, h *Hub, subject string, recipients []string, bodies ...[]byte) string {
	t.Helper()
	docNumber++
	atts, src := uploadOf(bodies...)
	hdr := Header{Recipients: recipients, Number: fmt.Sprint(docNumber), Notation: "VPCP-TTĐT", Subject: subject, Attachments: atts}
	r, err := h.Send(t.Context(), Principal{Name: codeG22}, hdr, src)
	if err != nil {
		t.Fatalf("send %q: %v", subject, err)
	}
	return r.ID
}

// ack acknowledges the arrival of id at each recipient (status 01).
func ack(t testing.TB, h *Hub, id string, recipients ...string) {
	t.Helper()
	v, err := h.Trace(t.Context(), admin, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range v.Deliveries {
		if !contains(recipients, d.Recipient) {
			continue
		}
		if _, err := h.Acknowledge(t.Context(), Principal{Name: d.Recipient}, []uint64{d.QueueSeq}); err != nil {
			t.Fatalf("ack %s at %s: %v", id, d.Recipient, err)
		}
	}
}

func report(t testing.TB, h *Hub, id, recipient, code string) {
	t.Helper()
	reason := ""
	if code == "02" || code == "16" {
		reason = "không thuộc thẩm quyền"
	}
	if _, err := h.ReportStatus(t.Context(), Principal{Name: recipient}, StatusRequest{DocID: id, Code: Status(code), Reason: reason}); err != nil {
		t.Fatalf("report %s by %s on %s: %v", code, recipient, id, err)
	}
}

func recall(t testing.TB, h *Hub, id string) {
	t.Helper()
	if _, _, err := h.Recall(t.Context(), Principal{Name: codeG22}, id, "ban hành nhầm"); err != nil {
		t.Fatalf("recall %s: %v", id, err)
	}
}

// complete has every recipient acknowledge id and report 06.
func complete(t testing.TB, h *Hub, id string, recipients ...string) {
	t.Helper()
	ack(t, h, id, recipients...)
	for _, r := range recipients {
		report(t, h, id, r, "06")
	}
}

func body(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i%251)
	}
	return b
}

func blobPath(h *Hub, b []byte) string {
	sum := sha256.Sum256(b)
	s := hex.EncodeToString(sum[:])
	return filepath.Join(h.bodies.files.Dir(), s[:2], s)
}

func readAttachment(t testing.TB, h *Hub, p Principal, id string, i int) ([]byte, error) {
	t.Helper()
	a, err := h.OpenAttachment(t.Context(), p, id, i)
	if err != nil {
		return nil, err
	}
	defer a.Body.Close()
	return io.ReadAll(a.Body)
}

func ids(docs []PurgedDocument) []string {
	var out []string
	for _, d := range docs {
		out = append(out, d.ID)
	}
	return out
}

const day = 24 * time.Hour

func TestPurge(t *testing.T) {
	h, clock := retentionHub(t, nil)
	recipients := []string{codeH41, codeH14}

	small, large := body(300, 1), body(5000, 2) // inline and file bodies
	shared := body(4000, 3)                     // also carried by a document that is kept
	twice := body(2000, 4)                      // carried by two documents that both go

	done := send(t, h, "Công văn hoàn thành", recipients, small, large)
	complete(t, h, done, recipients...)

	// Final in other ways: refused at one recipient and completed at the
	// other; a recall both recipients accepted.
	refused := send(t, h, "Công văn bị từ chối", recipients, body(100, 13))
	ack(t, h, refused, recipients...)
	report(t, h, refused, codeH41, "02")
	report(t, h, refused, codeH14, "06")
	recalled := send(t, h, "Công văn thu hồi được chấp nhận", recipients, twice)
	ack(t, h, recalled, recipients...)
	recall(t, h, recalled)
	report(t, h, recalled, codeH41, "15")
	report(t, h, recalled, codeH14, "15")
	// Withdrawn before anyone acknowledged it, sharing a body with recalled.
	withdrawn := send(t, h, "Công văn thu hồi trước khi nhận", recipients, twice)
	recall(t, h, withdrawn)
	sharedDone := send(t, h, "Công văn hoàn thành, tệp dùng chung", []string{codeH41}, shared)
	complete(t, h, sharedDone, codeH41)

	inProgress := send(t, h, "Công văn đang xử lý", recipients, shared)
	complete(t, h, inProgress, codeH41)
	ack(t, h, inProgress, codeH14)
	report(t, h, inProgress, codeH14, "05")

	openRecall := send(t, h, "Công văn đang chờ trả lời thu hồi", []string{codeH41}, body(3000, 5))
	complete(t, h, openRecall, codeH41)
	recall(t, h, openRecall) // 13 after 06: the recipient has not answered

	noAttachments := send(t, h, "Công văn không có tệp", []string{codeH41})
	complete(t, h, noAttachments, codeH41)

	clock.Advance(400 * day)
	recent := send(t, h, "Công văn mới hoàn thành", []string{codeH41}, body(3000, 6))
	complete(t, h, recent, codeH41)
	clock.Advance(10 * day)

	largeFile := blobPath(h, large)
	if _, err := os.Stat(largeFile); err != nil {
		t.Fatalf("the large attachment is not a file before the purge: %v", err)
	}

	want := []PurgedDocument{
		{ID: done, Sender: codeG22, Subject: "Công văn hoàn thành", Bytes: int64(len(small) + len(large))},
		{ID: refused, Sender: codeG22, Subject: "Công văn bị từ chối", Bytes: 100},
		{ID: recalled, Sender: codeG22, Subject: "Công văn thu hồi được chấp nhận", Bytes: int64(len(twice))},
		{ID: withdrawn, Sender: codeG22, Subject: "Công văn thu hồi trước khi nhận", Bytes: int64(len(twice))},
		{ID: sharedDone, Sender: codeG22, Subject: "Công văn hoàn thành, tệp dùng chung", Bytes: 0},
	}
	wantFreed := int64(len(small) + len(large) + 100 + len(twice))
	ignoreCreated := cmp.Transformer("noCreated", func(d PurgedDocument) PurgedDocument { d.Created = time.Time{}; return d })

	dry, err := h.Purge(t.Context(), 365*day, true)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if diff := cmp.Diff(want, dry.Documents, ignoreCreated); diff != "" {
		t.Errorf("dry run documents (-want +got):\n%s", diff)
	}
	if !dry.DryRun || dry.BytesFreed != wantFreed {
		t.Errorf("dry run: DryRun %v, BytesFreed %d; want true, %d", dry.DryRun, dry.BytesFreed, wantFreed)
	}
	if _, err := os.Stat(largeFile); err != nil {
		t.Errorf("the dry run removed a file: %v", err)
	}
	if got, err := readAttachment(t, h, admin, done, 1); err != nil || !bytes.Equal(got, large) {
		t.Errorf("after the dry run, attachment 1 of the completed document: %d bytes, %v", len(got), err)
	}
	if v, _ := h.GetDocument(t.Context(), admin, done); v.Doc.Purged != nil {
		t.Errorf("the dry run marked a document purged")
	}

	rep, err := h.Purge(t.Context(), 365*day, false)
	if err != nil {
		t.Fatalf("purge: %v", err)
	}
	if diff := cmp.Diff(dry.Documents, rep.Documents); diff != "" {
		t.Errorf("the real run differs from the dry run (-dry +real):\n%s", diff)
	}
	if rep.DryRun || rep.BytesFreed != wantFreed {
		t.Errorf("purge: DryRun %v, BytesFreed %d; want false, %d", rep.DryRun, rep.BytesFreed, wantFreed)
	}
	if _, err := os.Stat(largeFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the purged file body is still on disk (stat: %v)", err)
	}

	// Headers and traces stay; the bodies answer NotFound naming the policy.
	// (The sender reads them: recipients lost the recalled ones with the recall.)
	for _, id := range []string{done, refused, recalled, withdrawn, sharedDone} {
		v, err := h.GetDocument(t.Context(), Principal{Name: codeG22}, id)
		if err != nil {
			t.Fatalf("GetDocument(%s) after the purge: %v", id, err)
		}
		if v.Doc.Purged == nil || len(v.Doc.Header.Attachments) == 0 {
			t.Errorf("document %s after the purge: Purged %v, %d attachments in the header", id, v.Doc.Purged, len(v.Doc.Header.Attachments))
		}
		tr, err := h.Trace(t.Context(), Principal{Name: codeG22}, id)
		if err != nil || len(tr.Deliveries) == 0 || len(tr.Deliveries[0].Steps) == 0 {
			t.Errorf("Trace(%s) after the purge: %v, %+v", id, err, tr.Deliveries)
		}
		for i := range v.Doc.Header.Attachments {
			_, err := readAttachment(t, h, Principal{Name: codeG22}, id, i)
			if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "retention policy on 2025-04-15") {
				t.Errorf("OpenAttachment(%s, %d) after the purge: %v, want NotFound naming the retention policy and the date", id, i, err)
			}
		}
	}

	// Kept documents keep their bodies, including the one shared with a purged document.
	for _, k := range []struct {
		id   string
		want []byte
	}{{inProgress, shared}, {recent, body(3000, 6)}, {openRecall, body(3000, 5)}} {
		got, err := readAttachment(t, h, Principal{Name: codeH41}, k.id, 0)
		if err != nil || !bytes.Equal(got, k.want) {
			t.Errorf("kept document %s: attachment 0 read %d bytes, %v; want %d bytes", k.id, len(got), err, len(k.want))
		}
	}

	again, err := h.Purge(t.Context(), 365*day, false)
	if err != nil || len(again.Documents) != 0 || again.BytesFreed != 0 {
		t.Errorf("second purge: %v, %v documents, %d bytes; want nothing", err, ids(again.Documents), again.BytesFreed)
	}

	// The kept document that shared a body completes and ages: the body goes now.
	report(t, h, inProgress, codeH14, "06")
	rep, err = h.Purge(t.Context(), 5*day, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(rep.Documents), []string{inProgress, recent}; !cmp.Equal(got, want) {
		t.Errorf("purge after completion: %v, want %v", got, want)
	}
	if want := int64(len(shared) + 3000); rep.BytesFreed != want {
		t.Errorf("purge after completion freed %d bytes, want %d", rep.BytesFreed, want)
	}
	if _, err := os.Stat(blobPath(h, shared)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the shared body is still on disk once every document using it is purged (stat: %v)", err)
	}
	check, err := h.Check(t.Context())
	if err != nil || len(check.Problems) > 0 {
		t.Errorf("store check after the purges: %v %v", err, check.Problems)
	}
}

// TestPurgeAcrossBatches: a body shared by documents in different
// transactions goes with the last of them, and is counted once.
func TestPurgeAcrossBatches(t *testing.T) {
	h, clock := retentionHub(t, nil)
	h.ret.batch, h.ret.scanPage = 2, 3
	shared := body(3000, 7)
	var want []string
	for i := range 5 {
		id := send(t, h, fmt.Sprintf("Công văn %d", i), []string{codeH41}, shared, body(100, byte(i)))
		complete(t, h, id, codeH41)
		want = append(want, id)
	}
	clock.Advance(31 * day)
	wantFreed := int64(len(shared) + 5*100)
	dry, err := h.Purge(t.Context(), 30*day, true)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := h.Purge(t.Context(), 30*day, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []PurgeReport{dry, rep} {
		if got := ids(r.Documents); !cmp.Equal(got, want) || r.BytesFreed != wantFreed {
			t.Errorf("dry run %v: documents %v, freed %d; want %v, %d", r.DryRun, got, r.BytesFreed, want, wantFreed)
		}
	}
	var shares []int64
	for _, d := range rep.Documents {
		shares = append(shares, d.Bytes)
	}
	// Only the last document's transaction sees every user of the shared body purged.
	if want := []int64{100, 100, 100, 100, 3100}; !cmp.Equal(shares, want) {
		t.Errorf("bytes per document %v, want %v", shares, want)
	}
	if _, err := os.Stat(blobPath(h, shared)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("shared body still on disk: %v", err)
	}
}

// TestPurgeWaitsForBackup: files are not removed while a backup holds them.
func TestPurgeWaitsForBackup(t *testing.T) {
	h, clock := retentionHub(t, nil)
	large := body(5000, 8)
	id := send(t, h, "Công văn", []string{codeH41}, large)
	complete(t, h, id, codeH41)
	clock.Advance(2 * day)

	release := h.bodies.hold()
	type result struct {
		rep PurgeReport
		err error
	}
	res := make(chan result, 1)
	go func() {
		rep, err := h.Purge(context.Background(), day, false)
		res <- result{rep, err}
	}()
	// The purge commits, then waits for the backup to let go of the files.
	waitPurged(t, h, id)
	select {
	case r := <-res:
		t.Fatalf("the purge finished while a backup held the files: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := os.Stat(blobPath(h, large)); err != nil {
		t.Errorf("file removed while a backup held it: %v", err)
	}
	release()
	release() // safe twice
	r := <-res
	if r.err != nil || len(r.rep.Documents) != 1 {
		t.Fatalf("purge: %v, %+v", r.err, r.rep)
	}
	if _, err := os.Stat(blobPath(h, large)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file still there after the backup let go: %v", err)
	}
}

// TestPurgeSparesFilesOfSendsInFlight: a send that reuses the file of a
// body being purged keeps it until its own record takes over; if the
// send fails, a later run removes the file.
func TestPurgeSparesFilesOfSendsInFlight(t *testing.T) {
	h, _ := retentionHub(t, nil)
	b := body(5000, 9)
	w, err := h.bodies.files.Create()
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	sum, err := h.bodies.commit(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	h.bodies.doom(sum) // as if a purge had just dropped its record
	if n, err := h.bodies.flush(t.Context()); err != nil || n != 0 {
		t.Fatalf("flushFiles with the body pending: removed %d, %v; want 0", n, err)
	}
	if _, err := os.Stat(blobPath(h, b)); err != nil {
		t.Fatalf("pending body removed: %v", err)
	}
	h.bodies.release(sum) // the send failed: nothing references the file
	if n, err := h.bodies.flush(t.Context()); err != nil || n != 1 {
		t.Fatalf("flushFiles after the send failed: removed %d, %v; want 1", n, err)
	}
	if len(h.bodies.pending) != 0 || len(h.bodies.doomed) != 0 {
		t.Errorf("left: pending %v, leftover %v", h.bodies.pending, h.bodies.doomed)
	}
}

// waitPurged waits until document id is marked purged.
func waitPurged(t *testing.T, h *Hub, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := h.GetDocument(t.Context(), admin, id)
		if err != nil {
			t.Fatal(err)
		}
		if v.Doc.Purged != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("document %s was not purged", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPurgeKeepsFileResentDuringBackup: the same bytes sent again after
// the purge committed but before it could remove the file (a backup held
// it) keep the file.
func TestPurgeKeepsFileResentDuringBackup(t *testing.T) {
	h, clock := retentionHub(t, nil)
	large := body(5000, 14)
	old := send(t, h, "Công văn cũ", []string{codeH41}, large)
	complete(t, h, old, codeH41)
	clock.Advance(2 * day)

	release := h.bodies.hold()
	res := make(chan error, 1)
	go func() {
		_, err := h.Purge(context.Background(), day, false)
		res <- err
	}()
	waitPurged(t, h, old)
	again := send(t, h, "Công văn gửi lại", []string{codeH41}, large)
	release()
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	if got, err := readAttachment(t, h, Principal{Name: codeH41}, again, 0); err != nil || !bytes.Equal(got, large) {
		t.Errorf("the document sent again lost its body: %d bytes, %v", len(got), err)
	}
	if _, err := readAttachment(t, h, Principal{Name: codeH41}, old, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("the purged document's body: %v, want NotFound", err)
	}
}

// TestPurgeInterruptedWhileBackupHolds: a purge waiting for a backup gives
// up when its context ends, and the next run removes the files it left.
func TestPurgeInterruptedWhileBackupHolds(t *testing.T) {
	h, clock := retentionHub(t, nil)
	large := body(5000, 15)
	id := send(t, h, "Công văn", []string{codeH41}, large)
	complete(t, h, id, codeH41)
	clock.Advance(2 * day)

	release := h.bodies.hold()
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, err := h.Purge(ctx, day, false)
		res <- err
	}()
	waitPurged(t, h, id)
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Errorf("purge cancelled while waiting for a backup: %v, want context.Canceled", err)
	}
	if _, err := os.Stat(blobPath(h, large)); err != nil {
		t.Errorf("file removed while a backup held it: %v", err)
	}
	release()
	rep, err := h.Purge(t.Context(), day, false)
	if err != nil || len(rep.Documents) != 0 {
		t.Fatalf("next purge: %v, %v", err, ids(rep.Documents))
	}
	if _, err := os.Stat(blobPath(h, large)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the next run did not remove the file left behind (stat: %v)", err)
	}
}

// TestPurgeResendAfterPurge: the same bytes sent again after their body
// was purged are stored again and readable.
func TestPurgeResendAfterPurge(t *testing.T) {
	h, clock := retentionHub(t, nil)
	small, large := body(200, 10), body(6000, 11)
	old := send(t, h, "Công văn cũ", []string{codeH41}, small, large)
	complete(t, h, old, codeH41)
	clock.Advance(2 * day)
	if _, err := h.Purge(t.Context(), day, false); err != nil {
		t.Fatal(err)
	}
	again := send(t, h, "Công văn gửi lại", []string{codeH41}, small, large)
	for i, want := range [][]byte{small, large} {
		got, err := readAttachment(t, h, Principal{Name: codeH41}, again, i)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("attachment %d sent again after the purge: %d bytes, %v", i, len(got), err)
		}
	}
	if len(h.bodies.pending) != 0 {
		t.Errorf("pending marks left after the send: %v", h.bodies.pending)
	}
}

func TestPurgeRefusesNonPositiveAge(t *testing.T) {
	h, _ := retentionHub(t, nil)
	for _, d := range []time.Duration{0, -day} {
		if _, err := h.Purge(t.Context(), d, true); !errors.Is(err, ErrInvalid) {
			t.Errorf("Purge(%v): %v, want ErrInvalid", d, err)
		}
	}
}

// TestPeriodicPurge: with RetentionDays set the hub purges by itself and
// Drain stops it.
func TestPeriodicPurge(t *testing.T) {
	h, clock := retentionHub(t, nil)
	id := send(t, h, "Công văn", []string{codeH41}, body(2000, 12))
	complete(t, h, id, codeH41)
	clock.Advance(31 * day)
	h.cfg.RetentionDays = 30 // as if configured; New started nothing with 0
	h.startRetention(time.Millisecond, time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := h.GetDocument(t.Context(), admin, id)
		if err != nil {
			t.Fatal(err)
		}
		if v.Doc.Purged != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the periodic purge did not run")
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.Drain()
	select {
	case <-h.ret.done:
	default:
		t.Error("Drain returned with the periodic purge still running")
	}
	h.Drain() // safe twice
}

func TestRetentionConfig(t *testing.T) {
	for _, tc := range []struct {
		days int
		ok   bool
	}{{0, true}, {1, true}, {MaxRetentionDays, true}, {-1, false}, {MaxRetentionDays + 1, false}} {
		cfg := DefaultConfig()
		cfg.RetentionDays = tc.days
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("RetentionDays %d: Validate() = %v, want ok %v", tc.days, err, tc.ok)
		}
	}
	// A hub configured with a retention starts the periodic purge and Drain ends it.
	h, _ := retentionHub(t, func(c *Config) { c.RetentionDays = 30 })
	if h.ret.done == nil {
		t.Fatal("no periodic purge with RetentionDays 30")
	}
	h.Drain()
	<-h.ret.done
}
