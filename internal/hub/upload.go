package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	"github.com/ndxp/ndxp/internal/store"
)

// received is where one attachment's verified bytes are.
type received struct {
	sum    string
	inline []byte // small bodies, stored in the send's transaction
	file   bool   // placed by bodies.commit: released after the send's transaction
}

// upload is one send's attachments being received: every attachment in
// header order, each from offset 0 without gaps, up to its declared size,
// then its SHA-256 checked (declared in the header, or sent right after
// its last chunk; the digest received is written into atts). Small bodies
// stay in memory (each at most InlineLimit, together at most
// Limits.UploadMemory); the others stream to a file, so memory grows
// neither with attachment size nor with their number.
type upload struct {
	ctx  context.Context // the send's, for copying bodies to a cluster's nodes
	h    *Hub
	atts []AttachmentInfo
	out  []received

	cur         int               // the attachment being received
	off         int64             // its bytes received so far
	awaitDigest bool              // attachment cur is complete; its digest comes next
	fw          *store.FileWriter // cur's file, or nil for a body kept in memory
	buf         bytes.Buffer      // cur's body kept in memory
	hasher      hash.Hash         // its digest
	held        int64             // bytes of the bodies kept in memory

	writers []*store.FileWriter // every file begun, aborted on failure
	placed  []string            // files placed by bodies.commit, released on failure
}

// receive reads the upload's chunks from src (see upload).
func (h *Hub) receive(ctx context.Context, atts []AttachmentInfo, src ChunkSource) (out []received, err error) {
	for i, a := range atts {
		if a.Size > h.cfg.MaxAttachmentSize {
			return nil, invalid(fmt.Sprintf("attachments[%d].size", i), "%d bytes, the limit is %d", a.Size, h.cfg.MaxAttachmentSize)
		}
	}
	u := &upload{ctx: ctx, h: h, atts: atts, out: make([]received, len(atts)), hasher: sha256.New()}
	defer func() {
		if err != nil {
			u.abort()
		}
	}()
	if err := u.next(); err != nil {
		return nil, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := h.draining(); err != nil {
			// A shutdown does not wait for a long upload: the sender is told
			// to retry, and the retry is idempotent.
			return nil, err
		}
		c, err := src.Next()
		if err == io.EOF {
			return u.end()
		}
		if err != nil {
			return nil, err
		}
		if c.Digest != nil {
			err = u.digest(c)
		} else {
			err = u.chunk(c)
		}
		if err != nil {
			return nil, err
		}
	}
}

// chunk takes one piece of attachment cur.
func (u *upload) chunk(c Chunk) error {
	switch {
	case u.awaitDigest:
		return invalid("digest", "attachment %d (%s) is complete and its header gave no sha256: its digest must come before any other chunk", u.cur, u.atts[u.cur].Name)
	case u.cur >= len(u.atts):
		return invalid("chunk", "a chunk for attachment %d came after every attachment was complete", c.Index)
	case c.Index != u.cur:
		return invalid("chunk.index", "chunks out of order: got attachment %d, expected attachment %d at offset %d", c.Index, u.cur, u.off)
	case c.Offset != u.off:
		return invalid("chunk.offset", "attachment %d: chunk at offset %d, expected offset %d (chunks missing or out of order)", u.cur, c.Offset, u.off)
	case len(c.Data) == 0:
		return invalid("chunk.data", "attachment %d: empty chunk", u.cur)
	case u.off+int64(len(c.Data)) > u.atts[u.cur].Size:
		return invalid(fmt.Sprintf("attachments[%d].size", u.cur), "more bytes than the declared %d", u.atts[u.cur].Size)
	}
	if u.fw != nil {
		// Chunk data belongs to the receiver (ChunkSource): hand it over.
		if err := u.fw.Give(c.Data); err != nil {
			return u.h.storeErr(err)
		}
	} else {
		u.buf.Write(c.Data)
		u.hasher.Write(c.Data)
	}
	u.off += int64(len(c.Data))
	if u.off < u.atts[u.cur].Size {
		return nil
	}
	if len(u.atts[u.cur].SHA256) == 0 {
		u.awaitDigest = true
		return nil
	}
	return u.complete()
}

// digest takes the digest of attachment cur, sent after its last chunk.
func (u *upload) digest(c Chunk) error {
	switch {
	case !u.awaitDigest:
		return invalid("digest", "a digest for attachment %d came where none was expected: only right after the last chunk of an attachment whose header gave no sha256", c.Index)
	case c.Index != u.cur:
		return invalid("digest.index", "a digest for attachment %d came after the last chunk of attachment %d", c.Index, u.cur)
	case len(c.Digest) != sha256.Size:
		return invalid("digest.sha256", "%d bytes, a SHA-256 digest is 32", len(c.Digest))
	}
	u.atts[u.cur].SHA256 = c.Digest
	u.awaitDigest = false
	return u.complete()
}

// complete verifies attachment cur and begins the next.
func (u *upload) complete() error {
	if err := u.finish(); err != nil {
		return err
	}
	return u.next()
}

// finish verifies attachment cur's digest and keeps its body: in memory,
// or as the file placed in the blob store.
func (u *upload) finish() error {
	a := &u.atts[u.cur]
	var got []byte
	if u.fw != nil {
		var err error
		if got, err = u.fw.Sum(); err != nil {
			return u.h.storeErr(err)
		}
	} else {
		got = u.hasher.Sum(nil)
		if a.Size == 0 && len(a.SHA256) == 0 {
			// No chunk can carry an empty body, so none is followed by its
			// digest: the digest of nothing is known.
			a.SHA256 = got
		}
	}
	if !bytes.Equal(got, a.SHA256) {
		return invalid(fmt.Sprintf("attachments[%d].sha256", u.cur), "the received bytes have SHA-256 %x, the sender declares %x", got, a.SHA256)
	}
	if u.fw != nil {
		sum, err := u.h.bodies.commit(u.ctx, u.fw) // guards the file against a concurrent purge
		if err != nil {
			return u.h.storeErr(err)
		}
		u.placed = append(u.placed, sum)
		u.out[u.cur] = received{sum: sum, file: true}
		u.fw = nil
	} else {
		u.out[u.cur] = received{sum: hex.EncodeToString(got), inline: bytes.Clone(u.buf.Bytes())}
		u.held += int64(u.buf.Len())
	}
	u.cur++
	u.off = 0
	return nil
}

// next begins the next attachment with bytes to receive, completing the
// empty ones on the way, and gives it a file unless it may stay in memory.
func (u *upload) next() error {
	for {
		// Each attachment starts from an empty hash and buffer, an empty
		// one too: it must hash as empty, not as the one before.
		u.buf.Reset()
		u.hasher.Reset()
		if u.cur == len(u.atts) {
			return nil
		}
		if u.atts[u.cur].Size > 0 {
			break
		}
		if err := u.finish(); err != nil {
			return err
		}
	}
	size, cfg := u.atts[u.cur].Size, u.h.cfg
	if size <= cfg.InlineLimit && (cfg.Limits.UploadMemory == 0 || u.held+size <= cfg.Limits.UploadMemory) {
		return nil
	}
	w, err := u.h.bodies.create()
	if err != nil {
		return u.h.storeErr(err)
	}
	u.writers = append(u.writers, w)
	u.fw = w
	return nil
}

// end checks that the upload ended with every attachment whole.
func (u *upload) end() ([]received, error) {
	if u.awaitDigest {
		return nil, invalid("digest", "attachment %d (%s): the upload ended without its digest (its header gave no sha256)", u.cur, u.atts[u.cur].Name)
	}
	if u.cur < len(u.atts) {
		return nil, invalid("chunk", "attachment %d (%s) is incomplete: received %d of %d bytes", u.cur, u.atts[u.cur].Name, u.off, u.atts[u.cur].Size)
	}
	return u.out, nil
}

// abort removes what a failed upload wrote.
func (u *upload) abort() {
	for _, w := range u.writers {
		w.Abort()
	}
	u.h.bodies.release(u.placed...)
}
