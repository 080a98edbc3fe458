package server_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// patternReader yields n bytes computed from their offset, so a gigabyte
// needs no memory or disk on the sending side, and it can seek.
type patternReader struct {
	n, off int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if rem := p.n - p.off; int64(len(b)) > rem {
		b = b[:rem]
	}
	n := 0
	for n < len(b) {
		i := (p.off + int64(n)) % int64(len(patternBlock))
		n += copy(b[n:], patternBlock[i:])
	}
	p.off += int64(n)
	return n, nil
}

// patternBlock repeats through a pattern stream; its length is prime so
// repeats never line up with chunk boundaries.
var patternBlock = func() []byte {
	b := make([]byte, 1<<20+7)
	for i := range b {
		x := uint64(i)
		b[i] = byte(x*2654435761>>13) ^ byte(x>>9)
	}
	return b
}()

func (p *patternReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += p.off
	case io.SeekEnd:
		off += p.n
	}
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	p.off = off
	return off, nil
}

// TestLargeAttachmentFlatMemory streams 1 GiB through send and fetch
// against ndxpd as a real process and checks the hub's peak resident
// memory grows by less than 64 MiB: attachments stream to and from files.
func TestLargeAttachmentFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 1 GiB; skipped with -short")
	}
	const size = 1 << 30
	bin := hubtest.Binaries(t)
	p := hubtest.StartProcess(t, bin, t.TempDir(), "", "")
	admin := p.Admin()
	for _, code := range []string{codeG22, codeH41} {
		if _, err := admin.Registry.CreateAgency(context.Background(), &ndxpv1.CreateAgencyRequest{Agency: &ndxpv1.Agency{Code: code, Name: code, Stage: ndxpv1.Stage_STAGE_PILOT}}); err != nil {
			t.Fatal(err)
		}
	}
	g22 := p.Dial(hubtest.IssueCreds(t, admin, codeG22, p.GRPCAddr))
	h41 := p.Dial(hubtest.IssueCreds(t, admin, codeH41, p.GRPCAddr))
	rssBefore, _, err := p.Memory()
	if err != nil {
		t.Skipf("cannot read process memory: %v", err)
	}
	ctx := context.Background()
	r, err := g22.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{codeH41}, Subject: "Hồ sơ lớn", Number: "1/GB"},
		[]client.Attachment{{Name: "ho-so.bin", Body: &patternReader{n: size}}})
	if err != nil {
		t.Fatalf("send 1 GiB: %v", err)
	}
	h := sha256.New()
	n, err := h41.Fetch(ctx, r.GetDocumentId(), 0, h) // Fetch checks the digest itself too
	if err != nil || n != size {
		t.Fatalf("fetch: %d bytes, %v", n, err)
	}
	want := sha256.New()
	io.Copy(want, &patternReader{n: size})
	if string(h.Sum(nil)) != string(want.Sum(nil)) {
		t.Fatal("fetched bytes differ from the sent ones")
	}
	_, peak, err := p.Memory()
	if err != nil {
		t.Fatal(err)
	}
	growth := peak - rssBefore
	t.Logf("hub RSS before %d MiB, peak %d MiB: growth %.1f MiB for 1 GiB sent and fetched", rssBefore>>20, peak>>20, float64(growth)/(1<<20))
	if growth > 64<<20 {
		t.Errorf("hub peak memory grew by %d MiB, want under 64 MiB", growth>>20)
	}
}
