package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ndxp/ndxp/internal/store"
)

// Tests of the exchange driven through the hub's own API, against a real
// bbolt store in a TempDir and without gRPC: send and receive here; the
// status workflow, recall, lists and delivery in the files beside it.

const codeH47 = "000.00.00.H47" // UBND tỉnh Quảng Nam: a party to no document unless a test makes it one

// agency is the Principal of an agency's own credential.
func agency(code string) Principal { return Principal{Name: code} }

// checkErr fails the test unless err is a hub error of kind (and, when
// field is not empty, about field).
func checkErr(t testing.TB, what string, err error, kind error, field string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: error %v, want %v", what, err, kind)
	}
	if field == "" {
		return
	}
	var he *Error
	if !errors.As(err, &he) {
		t.Fatalf("%s: error %v (%T) is not a *hub.Error", what, err, err)
	}
	if he.Field != field {
		t.Errorf("%s: field %q, want %q (error %v)", what, he.Field, field, err)
	}
}

// queueOf returns the events waiting in code's queue, in order.
func queueOf(t testing.TB, h *Hub, code string) []Event {
	t.Helper()
	pushes, err := h.nextEvents(t.Context(), code, 0, 1<<20)
	if err != nil {
		t.Fatalf("queue of %s: %v", code, err)
	}
	var out []Event
	for _, p := range pushes {
		out = append(out, p.Event)
	}
	return out
}

// tmpFiles lists what uploads left in the attachment files' temporary directory.
func tmpFiles(t testing.TB, h *Hub) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(h.bodies.files.Dir(), "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// sumOf is the SHA-256 of b as a slice.
func sumOf(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// chunked makes the attachment list and chunks (of up to 1000 bytes) of
// bodies; with digestAfter the header gives no digest and each is sent
// right after its attachment's last chunk.
func chunked(digestAfter bool, bodies ...[]byte) ([]AttachmentInfo, *chunkList) {
	atts, src := uploadOf(bodies...)
	if !digestAfter {
		return atts, src.(*chunkList)
	}
	out := &chunkList{}
	for i, b := range bodies {
		atts[i].SHA256 = nil
		for _, c := range src.(*chunkList).chunks {
			if c.Index == i {
				out.chunks = append(out.chunks, c)
			}
		}
		if len(b) > 0 {
			out.chunks = append(out.chunks, Chunk{Index: i, Digest: sumOf(b)})
		}
	}
	return atts, out
}

// failingSource fails the test if the hub reads it.
type failingSource struct{ t testing.TB }

func (s failingSource) Next() (Chunk, error) {
	s.t.Error("the hub read the upload of a send it should not have received")
	return Chunk{}, io.EOF
}

// errSource fails on its first read.
type errSource struct{ err error }

func (s errSource) Next() (Chunk, error) { return Chunk{}, s.err }

// blockingSource blocks every read until release is closed, like a
// transport whose sender went quiet.
type blockingSource struct{ release chan struct{} }

func (s blockingSource) Next() (Chunk, error) { <-s.release; return Chunk{}, io.EOF }

// TestSendStoresAttachments sends attachments of every kind and reads
// them back: small ones kept in the database, large ones (over the inline
// limit or past the upload's memory) in files, empty ones, with digests in
// the header or sent after the chunks.
func TestSendStoresAttachments(t *testing.T) {
	small, small2, large, empty := body(500, 1), body(800, 2), body(3500, 3), []byte{}
	tests := []struct {
		name        string
		edit        func(*Config)
		bodies      [][]byte
		digestAfter bool
		wantFile    []bool // by attachment: kept as a file, not in the database
	}{
		{"no attachments", nil, nil, false, nil},
		{"small, digest in the header", nil, [][]byte{small}, false, []bool{false}},
		{"small, digest after the chunks", nil, [][]byte{small}, true, []bool{false}},
		{"large, digest in the header", nil, [][]byte{large}, false, []bool{true}},
		{"large, digest after the chunks", nil, [][]byte{large}, true, []bool{true}},
		{"empty", nil, [][]byte{empty}, false, []bool{false}},
		{"empty, no digest given", nil, [][]byte{empty}, true, []bool{false}},
		{"empty ones between and after others", nil, [][]byte{empty, small, empty, large, empty}, true, []bool{false, false, false, true, false}},
		{"small past the upload's memory goes to a file",
			func(c *Config) { c.Limits.UploadMemory = 1000 }, [][]byte{small, small2}, false, []bool{false, true}},
		{"no inline limit", func(c *Config) { c.InlineLimit = 0 }, [][]byte{small}, false, []bool{true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, clock := retentionHub(t, tt.edit)
			atts, src := chunked(tt.digestAfter, tt.bodies...)
			hdr := Header{Recipients: []string{codeH41, codeH14}, Number: "7816", Notation: "VPCP-TTĐT", Subject: "Về việc triển khai", Attachments: atts}
			got, err := h.Send(t.Context(), agency(codeG22), hdr, src)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			want := Receipt{ID: got.ID, Reference: "000.00.00.G22,2024/03/01,7816/VPCP-TTĐT", Accepted: clock.Now(), Recipients: []string{codeH41, codeH14}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("receipt (-want +got):\n%s", diff)
			}
			if err := checkDocID(got.ID); err != nil {
				t.Errorf("receipt id: %v", err)
			}
			if src.next != len(src.chunks) {
				t.Errorf("the hub read %d of %d chunks", src.next, len(src.chunks))
			}
			v, err := h.GetDocument(t.Context(), agency(codeH41), got.ID)
			if err != nil {
				t.Fatalf("GetDocument: %v", err)
			}
			if v.SenderName != "Văn phòng Chính phủ" {
				t.Errorf("sender name %q, want Văn phòng Chính phủ", v.SenderName)
			}
			if len(v.Doc.Header.Attachments) != len(tt.bodies) {
				t.Fatalf("%d attachments stored, want %d", len(v.Doc.Header.Attachments), len(tt.bodies))
			}
			for i, b := range tt.bodies {
				if gotSum, wantSum := v.Doc.Header.Attachments[i].SHA256, sumOf(b); !bytes.Equal(gotSum, wantSum) {
					t.Errorf("attachment %d: stored digest %x, want %x", i, gotSum, wantSum)
				}
				for _, p := range []Principal{agency(codeG22), agency(codeH41), agency(codeH14), admin} {
					data, err := readAttachment(t, h, p, got.ID, i)
					if err != nil {
						t.Fatalf("attachment %d read by %s: %v", i, p, err)
					}
					if !bytes.Equal(data, b) {
						t.Errorf("attachment %d read by %s: %d bytes, want the %d sent", i, p, len(data), len(b))
					}
				}
				_, err := os.Stat(blobPath(h, b))
				if isFile := err == nil; isFile != tt.wantFile[i] {
					t.Errorf("attachment %d kept as a file: %v, want %v", i, isFile, tt.wantFile[i])
				}
			}
			if left := tmpFiles(t, h); len(left) > 0 {
				t.Errorf("temporary files left after the send: %v", left)
			}
			if len(h.bodies.pending) > 0 {
				t.Errorf("attachment files still marked as in flight: %v", h.bodies.pending)
			}
			for _, r := range []string{codeH41, codeH14} {
				evs := queueOf(t, h, r)
				if len(evs) != 1 || evs[0].Kind != EventArrived || evs[0].DocID != got.ID || evs[0].Sender != codeG22 {
					t.Errorf("queue of %s: %+v, want one arrival of %s", r, evs, got.ID)
				}
			}
		})
	}
}

// TestSendSharesIdenticalFiles: two documents carrying the same large body
// keep one file, and each reads it.
func TestSendSharesIdenticalFiles(t *testing.T) {
	h, _ := retentionHub(t, nil)
	b := body(5000, 9)
	first := send(t, h, "Lần một", []string{codeH41}, b)
	second := send(t, h, "Lần hai", []string{codeH14}, b)
	for _, c := range []struct {
		p  Principal
		id string
	}{{agency(codeH41), first}, {agency(codeH14), second}} {
		got, err := readAttachment(t, h, c.p, c.id, 0)
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s reads %s: %d bytes, %v; want the %d sent", c.p, c.id, len(got), err, len(b))
		}
	}
	entries, err := os.ReadDir(filepath.Dir(blobPath(h, b)))
	if err != nil || len(entries) != 1 {
		t.Errorf("files in the body's directory: %d, %v; want 1", len(entries), err)
	}
}

// TestReceiveRefusals feeds Send every malformed upload: each is refused
// as invalid, naming the field, and leaves nothing behind.
func TestReceiveRefusals(t *testing.T) {
	a, b := body(1500, 1), body(10, 2) // a spans two chunks; the inline limit is 1 KiB
	big := body(3000, 3)
	info := func(name string, data []byte, withSum bool) AttachmentInfo {
		ai := AttachmentInfo{Name: name, Size: int64(len(data))}
		if withSum {
			ai.SHA256 = sumOf(data)
		}
		return ai
	}
	wrongSum := sumOf([]byte("something else"))
	tests := []struct {
		name      string
		atts      []AttachmentInfo
		chunks    []Chunk
		wantField string
	}{
		{"chunks out of order",
			[]AttachmentInfo{info("a", a, true), info("b", b, true)},
			[]Chunk{{Index: 1, Offset: 0, Data: b}}, "chunk.index"},
		{"a gap in the offsets",
			[]AttachmentInfo{info("a", a, true)},
			[]Chunk{{Index: 0, Offset: 0, Data: a[:1000]}, {Index: 0, Offset: 1200, Data: a[1200:]}}, "chunk.offset"},
		{"a chunk sent twice",
			[]AttachmentInfo{info("a", a, true)},
			[]Chunk{{Index: 0, Offset: 0, Data: a[:1000]}, {Index: 0, Offset: 0, Data: a[:1000]}}, "chunk.offset"},
		{"first chunk not at offset 0",
			[]AttachmentInfo{info("a", a, true)},
			[]Chunk{{Index: 0, Offset: 500, Data: a[500:]}}, "chunk.offset"},
		{"more bytes than declared",
			[]AttachmentInfo{{Name: "b", Size: 9, SHA256: sumOf(b[:9])}},
			[]Chunk{{Index: 0, Offset: 0, Data: b}}, "attachments[0].size"},
		{"an empty chunk",
			[]AttachmentInfo{info("b", b, true)},
			[]Chunk{{Index: 0, Offset: 0, Data: []byte{}}}, "chunk.data"},
		{"a chunk after every attachment",
			[]AttachmentInfo{info("b", b, true)},
			[]Chunk{{Index: 0, Offset: 0, Data: b}, {Index: 0, Offset: 10, Data: b}}, "chunk"},
		{"upload ends early",
			[]AttachmentInfo{info("a", a, true)},
			[]Chunk{{Index: 0, Offset: 0, Data: a[:1000]}}, "chunk"},
		{"upload ends before an attachment",
			[]AttachmentInfo{info("b", b, true), info("a", a, true)},
			[]Chunk{{Index: 0, Offset: 0, Data: b}}, "chunk"},
		{"missing digest at the end",
			[]AttachmentInfo{info("b", b, false)},
			[]Chunk{{Index: 0, Offset: 0, Data: b}}, "digest"},
		{"a chunk where the digest was due",
			[]AttachmentInfo{info("b", b, false), info("a", a, true)},
			[]Chunk{{Index: 0, Offset: 0, Data: b}, {Index: 1, Offset: 0, Data: a[:1000]}}, "digest"},
		{"a digest not expected: the header gave one",
			[]AttachmentInfo{info("b", b, true)},
			[]Chunk{{Index: 0, Offset: 0, Data: b}, {Index: 0, Digest: sumOf(b)}}, "digest"},
		{"a digest before the attachment is complete",
			[]AttachmentInfo{info("a", a, false)},
			[]Chunk{{Index: 0, Offset: 0, Data: a[:1000]}, {Index: 0, Digest: sumOf(a)}}, "digest"},
		{"a digest for another attachment",
			[]AttachmentInfo{info("b", b, false), info("a", a, false)},
			[]Chunk{{Index: 0, Offset: 0, Data: b}, {Index: 1, Digest: sumOf(a)}}, "digest.index"},
		{"a digest of 31 bytes",
			[]AttachmentInfo{info("b", b, false)},
			[]Chunk{{Index: 0, Offset: 0, Data: b}, {Index: 0, Digest: sumOf(b)[:31]}}, "digest.sha256"},
		{"a digest sent after the chunks that does not match",
			[]AttachmentInfo{info("b", b, false)},
			[]Chunk{{Index: 0, Offset: 0, Data: b}, {Index: 0, Digest: wrongSum}}, "attachments[0].sha256"},
		{"declared digest does not match a small body",
			[]AttachmentInfo{{Name: "b", Size: int64(len(b)), SHA256: wrongSum}},
			[]Chunk{{Index: 0, Offset: 0, Data: b}}, "attachments[0].sha256"},
		{"declared digest does not match a file body",
			[]AttachmentInfo{info("b", b, true), {Name: "big", Size: int64(len(big)), SHA256: wrongSum}},
			[]Chunk{{Index: 0, Offset: 0, Data: b}, {Index: 1, Offset: 0, Data: big[:1000]}, {Index: 1, Offset: 1000, Data: big[1000:]}},
			"attachments[1].sha256"},
		{"a good file body, then a bad one",
			[]AttachmentInfo{info("big", big, true), {Name: "a", Size: int64(len(a)), SHA256: wrongSum}},
			[]Chunk{{Index: 0, Offset: 0, Data: big}, {Index: 1, Offset: 0, Data: a}}, "attachments[1].sha256"},
		{"an empty attachment with the digest of something",
			[]AttachmentInfo{{Name: "e", Size: 0, SHA256: wrongSum}},
			nil, "attachments[0].sha256"},
		{"a digest of 31 bytes in the header",
			[]AttachmentInfo{{Name: "b", Size: int64(len(b)), SHA256: sumOf(b)[:31]}},
			nil, "attachments[0].sha256"},
		{"a negative size",
			[]AttachmentInfo{{Name: "b", Size: -1}},
			nil, "attachments[0].size"},
		{"larger than an attachment may be",
			[]AttachmentInfo{info("b", b, true), {Name: "huge", Size: 1<<20 + 1}},
			nil, "attachments[1].size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := retentionHub(t, func(c *Config) { c.MaxAttachmentSize = 1 << 20 })
			hdr := Header{Recipients: []string{codeH41}, Number: "1", Subject: "Tệp hỏng", Attachments: tt.atts}
			_, err := h.Send(t.Context(), agency(codeG22), hdr, &chunkList{chunks: tt.chunks})
			checkErr(t, "Send", err, ErrInvalid, tt.wantField)
			if evs := queueOf(t, h, codeH41); len(evs) > 0 {
				t.Errorf("the recipient's queue holds %d events after a refused send", len(evs))
			}
			if docs, _, err := h.ListSent(t.Context(), agency(codeG22), ListFilter{}, 0, ""); err != nil || len(docs) > 0 {
				t.Errorf("ListSent after a refused send: %d documents, %v", len(docs), err)
			}
			if left := tmpFiles(t, h); len(left) > 0 {
				t.Errorf("temporary files left after a refused send: %v", left)
			}
			if len(h.bodies.pending) > 0 {
				t.Errorf("attachment files still marked as in flight: %v", h.bodies.pending)
			}
			// The same reference may be sent again, correctly.
			atts, src := uploadOf(b)
			hdr.Attachments = atts
			if _, err := h.Send(t.Context(), agency(codeG22), hdr, src); err != nil {
				t.Errorf("a correct send after the refusal: %v", err)
			}
		})
	}
}

// TestSendRefusals covers what Send refuses before it reads an upload:
// the caller, the recipients and the original of an update.
func TestSendRefusals(t *testing.T) {
	h, _ := retentionHub(t, nil)
	mustCreate(t, h, codeH47, "UBND tỉnh Quảng Nam", StagePending)
	mustCreate(t, h, "000.00.00.H17", "UBND tỉnh Hải Dương", StagePilot)
	if _, err := h.SetSuspended(t.Context(), "000.00.00.H17", true, "bảo trì"); err != nil {
		t.Fatal(err)
	}
	mine := send(t, h, "Văn bản gốc", []string{codeH41})
	theirs, err := h.Send(t.Context(), agency(codeH14), Header{Recipients: []string{codeH41}, Number: "9", Subject: "Của Cao Bằng"}, &chunkList{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		p         Principal
		edit      func(*Header)
		wantKind  error
		wantField string
	}{
		{"an admin", admin, nil, ErrPermission, ""},
		{"no identity", Principal{}, nil, ErrPermission, ""},
		{"a pending sender", agency(codeH47), func(hd *Header) { hd.Recipients = []string{codeH41} }, ErrPrecondition, ""},
		{"an unregistered recipient", agency(codeG22), func(hd *Header) { hd.Recipients = []string{codeH41, "000.00.00.H99"} }, ErrInvalid, "recipients"},
		{"a suspended recipient", agency(codeG22), func(hd *Header) { hd.Recipients = []string{"000.00.00.H17"} }, ErrInvalid, "recipients"},
		{"a pending recipient", agency(codeG22), func(hd *Header) { hd.Recipients = []string{codeH47} }, ErrInvalid, "recipients"},
		{"the sender itself", agency(codeG22), func(hd *Header) { hd.Recipients = []string{codeG22} }, ErrInvalid, "recipients"},
		{"no recipient", agency(codeG22), func(hd *Header) { hd.Recipients = nil }, ErrInvalid, "recipients"},
		{"no subject", agency(codeG22), func(hd *Header) { hd.Subject = " " }, ErrInvalid, "subject"},
		{"a reference of another sender", agency(codeG22), func(hd *Header) { hd.Reference = codeH41 + ",2024/03/01,1" }, ErrInvalid, "reference"},
		{"neither reference nor number", agency(codeG22), func(hd *Header) { hd.Number = "" }, ErrInvalid, "reference"},
		{"a bad date", agency(codeG22), func(hd *Header) { hd.Date = "01/03/2024" }, ErrInvalid, "promulgation_date"},
		{"a bad due date", agency(codeG22), func(hd *Header) { hd.DueDate = "2024-02-30" }, ErrInvalid, "due_date"},
		{"a revocation sent as a document", agency(codeG22), func(hd *Header) { hd.Business = BusinessRevoke }, ErrInvalid, "business_type"},
		{"an update without its original", agency(codeG22), func(hd *Header) { hd.Business = BusinessUpdate }, ErrInvalid, "original_document_id"},
		{"a new document naming an original", agency(codeG22), func(hd *Header) { hd.Original = mine }, ErrInvalid, "original_document_id"},
		{"an update of a malformed id", agency(codeG22), func(hd *Header) { hd.Business, hd.Original = BusinessUpdate, "văn bản 1" }, ErrInvalid, "original_document_id"},
		{"an update of an unknown document", agency(codeG22), func(hd *Header) { hd.Business, hd.Original = BusinessUpdate, h.ids.next(time.Now()) }, ErrNotFound, "original_document_id"},
		{"a replacement of another sender's document", agency(codeG22), func(hd *Header) { hd.Business, hd.Original = BusinessReplace, theirs.ID }, ErrNotFound, "original_document_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := Header{Recipients: []string{codeH41}, Number: "42", Subject: "Bị từ chối"}
			if tt.edit != nil {
				tt.edit(&hdr)
			}
			_, err := h.Send(t.Context(), tt.p, hdr, failingSource{t})
			checkErr(t, "Send", err, tt.wantKind, tt.wantField)
		})
	}
	if evs := queueOf(t, h, codeH41); len(evs) != 2 {
		t.Errorf("queue of %s: %d events, want the 2 documents sent before", codeH41, len(evs))
	}
}

// TestSendUpdateAndReplace: an update or a replacement of a document the
// sender sent arrives as its own kind of event, naming the original.
func TestSendUpdateAndReplace(t *testing.T) {
	h, _ := retentionHub(t, nil)
	orig := send(t, h, "Văn bản gốc", []string{codeH41})
	for _, tt := range []struct {
		business BusinessType
		want     EventKind
	}{{BusinessUpdate, EventUpdated}, {BusinessReplace, EventReplaced}} {
		hdr := Header{Recipients: []string{codeH41}, Number: fmt.Sprint("upd", tt.business), Subject: "Sửa đổi", Business: tt.business, Original: " " + orig + " "}
		r, err := h.Send(t.Context(), agency(codeG22), hdr, &chunkList{})
		if err != nil {
			t.Fatalf("Send business %d: %v", tt.business, err)
		}
		evs := queueOf(t, h, codeH41)
		last := evs[len(evs)-1]
		if last.DocID != r.ID || last.Kind != tt.want {
			t.Errorf("business %d: last event %+v, want kind %d for %s", tt.business, last, tt.want, r.ID)
		}
		v, err := h.GetDocument(t.Context(), agency(codeH41), r.ID)
		if err != nil || v.Doc.Header.Original != orig {
			t.Errorf("business %d: original %q, %v; want %s", tt.business, v.Doc.Header.Original, err, orig)
		}
	}
}

// TestSendRetryReturnsFirstReceipt: a send repeating an accepted one (same
// sender and reference) gets the first receipt, marked Duplicate, without
// its upload being read and without a second document.
func TestSendRetryReturnsFirstReceipt(t *testing.T) {
	h, clock := retentionHub(t, nil)
	atts, src := uploadOf(body(2000, 1))
	hdr := Header{Recipients: []string{codeH41}, Reference: codeG22 + ",2024/03/01,7816/VPCP-TTĐT", Subject: "Gửi lại", Attachments: atts}
	first, err := h.Send(t.Context(), agency(codeG22), hdr, src)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	hdr.Subject = "Gửi lại, khác nội dung" // the reference decides, not the content
	again, err := h.Send(t.Context(), agency(codeG22), hdr, failingSource{t})
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	want := first
	want.Duplicate = true
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("retry receipt (-want +got):\n%s", diff)
	}
	if evs := queueOf(t, h, codeH41); len(evs) != 1 {
		t.Errorf("queue after a retry: %d events, want 1", len(evs))
	}
	// Another sender may use the same number: references start with the sender.
	other := hdr
	other.Reference, other.Number = "", "7816"
	other.Attachments = nil
	if r, err := h.Send(t.Context(), agency(codeH14), other, &chunkList{}); err != nil || r.Duplicate {
		t.Errorf("another sender's document: %+v, %v; want a new one", r, err)
	}
}

// cancelSource ends the upload's context with cause on its first read;
// then it returns a chunk at once, or, with block, waits for release like
// a transport whose sender went quiet.
type cancelSource struct {
	cancel  context.CancelCauseFunc
	cause   error
	block   bool
	release chan struct{}
}

func (s cancelSource) Next() (Chunk, error) {
	s.cancel(s.cause)
	if s.block {
		<-s.release
		return Chunk{}, io.EOF
	}
	return Chunk{Index: 0, Offset: 0, Data: body(5, 1)}, nil
}

// TestSendUploadFailures: an upload that fails, is cancelled or goes quiet
// ends the send with that reason, and stores nothing.
func TestSendUploadFailures(t *testing.T) {
	errBroken := errors.New("connection reset")
	causeRevoked := newErr(ErrUnauthenticated, "", "credential revoked")
	type env struct {
		cancel  context.CancelCauseFunc
		release chan struct{}
	}
	tests := []struct {
		name string
		idle time.Duration
		src  func(env) ChunkSource
		want error
	}{
		{"the transport fails", 0, func(env) ChunkSource { return errSource{errBroken} }, errBroken},
		{"the transport fails under the idle watch", time.Hour, func(env) ChunkSource { return errSource{errBroken} }, errBroken},
		{"the caller is gone", 0,
			func(e env) ChunkSource { return cancelSource{cancel: e.cancel, cause: context.Canceled} }, context.Canceled},
		{"the caller is gone under the idle watch", time.Hour,
			func(e env) ChunkSource { return cancelSource{cancel: e.cancel, cause: context.Canceled} }, context.Canceled},
		{"the sender goes quiet", 10 * time.Millisecond,
			func(e env) ChunkSource { return blockingSource{e.release} }, ErrExhausted},
		{"the credential is revoked while the sender is quiet", time.Hour,
			func(e env) ChunkSource {
				return cancelSource{cancel: e.cancel, cause: causeRevoked, block: true, release: e.release}
			}, causeRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := retentionHub(t, func(c *Config) { c.Limits.UploadIdle = tt.idle })
			release := make(chan struct{})
			defer close(release) // ends a read the idle watch left blocked
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			hdr := Header{Recipients: []string{codeH41}, Number: "1", Subject: "Tải lên hỏng",
				Attachments: []AttachmentInfo{{Name: "a.pdf", Size: 10, SHA256: sumOf(body(10, 1))}}}
			_, err := h.Send(ctx, agency(codeG22), hdr, tt.src(env{cancel, release}))
			if !errors.Is(err, tt.want) {
				t.Errorf("Send: %v, want %v", err, tt.want)
			}
			wantIdle := int64(0)
			if tt.want == ErrExhausted {
				wantIdle = 1
			}
			if got := h.metrics.Refusals[LimitUploadIdle].Load(); got != wantIdle {
				t.Errorf("upload_idle refusals %d, want %d", got, wantIdle)
			}
			if evs := queueOf(t, h, codeH41); len(evs) > 0 {
				t.Errorf("queue after a failed upload: %d events", len(evs))
			}
		})
	}
}

// TestSendWhileDraining: a hub that drains refuses new sends as
// unavailable, and an upload under way is cut short the same way.
func TestSendWhileDraining(t *testing.T) {
	h, _ := retentionHub(t, nil)
	atts, src := uploadOf(body(3000, 1))
	drainAfter := &hookSource{src: src.(*chunkList), after: 1, hook: h.Drain}
	_, err := h.Send(t.Context(), agency(codeG22), Header{Recipients: []string{codeH41}, Number: "1", Subject: "Đang tắt", Attachments: atts}, drainAfter)
	checkErr(t, "Send cut short by Drain", err, ErrUnavailable, "")
	if left := tmpFiles(t, h); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	_, err = h.Send(t.Context(), agency(codeG22), Header{Recipients: []string{codeH41}, Number: "2", Subject: "Sau khi tắt"}, failingSource{t})
	checkErr(t, "Send after Drain", err, ErrUnavailable, "")
}

// hookSource runs hook once after `after` chunks were read from src.
type hookSource struct {
	src   *chunkList
	after int
	hook  func()
}

func (s *hookSource) Next() (Chunk, error) {
	if s.src.next == s.after && s.hook != nil {
		s.hook()
		s.hook = nil
	}
	return s.src.Next()
}

// TestOpenAttachmentRefusals: attachments of a document the caller may
// not see, or that do not exist, are not found.
func TestOpenAttachmentRefusals(t *testing.T) {
	h, _ := retentionHub(t, nil)
	id := send(t, h, "Có tệp", []string{codeH41}, body(100, 1))
	tests := []struct {
		name      string
		p         Principal
		id        string
		index     int
		wantKind  error
		wantField string
	}{
		{"not a party", agency(codeH14), id, 0, ErrNotFound, "document_id"},
		{"no such index", agency(codeH41), id, 1, ErrNotFound, "index"},
		{"a negative index", agency(codeH41), id, -1, ErrNotFound, "index"},
		{"a malformed id", agency(codeH41), "../etc/passwd", 0, ErrInvalid, "document_id"},
		{"an unknown id", agency(codeH41), h.ids.next(time.Now()), 0, ErrNotFound, "document_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.OpenAttachment(t.Context(), tt.p, tt.id, tt.index)
			checkErr(t, "OpenAttachment", err, tt.wantKind, tt.wantField)
		})
	}
}

// TestOpenAttachmentFileMissing: a body whose record is there but whose
// file is not is damage, not a purge: the error says so and is not a
// caller's NotFound.
func TestOpenAttachmentFileMissing(t *testing.T) {
	h, _ := retentionHub(t, nil)
	b := body(3000, 5)
	id := send(t, h, "Tệp bị mất", []string{codeH41}, b)
	if err := os.Remove(blobPath(h, b)); err != nil {
		t.Fatal(err)
	}
	_, err := h.OpenAttachment(t.Context(), agency(codeH41), id, 0)
	if err == nil || errors.Is(err, ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenAttachment of a body whose file is gone: %v, want the store's not-found, not the caller's", err)
	}
}
