// Package bufpool is a gRPC buffer pool (grpc/mem.BufferPool) that hands
// out buffers without clearing them.
//
// gRPC's default pool clears every buffer it hands out, all of its
// capacity: a 256 KiB attachment chunk takes a buffer from the 1 MiB tier,
// so receiving or sending 1 GiB cleared about 4 GiB, a tenth of the hub's
// CPU in a large upload (docs/performance.md). Every user of the pool in
// gRPC writes a buffer before it reads it (a frame read with io.ReadFull,
// a message copied or marshalled into it, the write buffer sent up to what
// was written), which is why gRPC itself reads frames into a pool that
// does not clear; this pool does the same for the rest.
package bufpool

import (
	"math/bits"
	"sync"
)

const (
	minShift = 8  // 256 B: smaller buffers are not worth pooling
	maxShift = 22 // 4 MiB: larger ones are rare and are left to the GC
)

// Pool keeps buffers in tiers of powers of two; a buffer from tier k has a
// capacity of at least 1<<k. The zero value is not usable: call New.
type Pool struct {
	tiers [maxShift - minShift + 1]sync.Pool
}

// New returns an empty pool.
func New() *Pool { return &Pool{} }

// tierFor is the smallest tier whose buffers hold n bytes.
func tierFor(n int) int {
	if n <= 1<<minShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minShift
}

// Get returns a buffer of length n, with stale contents: the caller must
// write what it reads.
func (p *Pool) Get(n int) *[]byte {
	t := tierFor(n)
	if t >= len(p.tiers) {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.tiers[t].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<(t+minShift))
	return &b
}

// Put gives a buffer back. It goes to the largest tier its capacity fills,
// so any buffer a later Get takes from that tier is large enough.
func (p *Pool) Put(b *[]byte) {
	c := cap(*b)
	if c < 1<<minShift {
		return
	}
	t := bits.Len(uint(c)) - 1 - minShift
	if t >= len(p.tiers) {
		return
	}
	p.tiers[t].Put(b)
}
