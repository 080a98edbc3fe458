package bufpool

import (
	"testing"
)

func TestGetLengthAndCapacity(t *testing.T) {
	p := New()
	for _, n := range []int{0, 1, 255, 256, 257, 1000, 1024, 1025, 16 << 10, 256<<10 + 20, 4 << 20, 4<<20 + 1, 9 << 20} {
		b := p.Get(n)
		if len(*b) != n {
			t.Errorf("Get(%d): len %d, want %d", n, len(*b), n)
		}
		if n <= 4<<20 {
			if want := 1 << (tierFor(n) + minShift); cap(*b) < want {
				t.Errorf("Get(%d): cap %d, want at least %d", n, cap(*b), want)
			}
			if n > 256 && cap(*b) >= 2*n {
				t.Errorf("Get(%d): cap %d, more than twice what was asked", n, cap(*b))
			}
		}
		p.Put(b)
	}
}

func TestPutThenGetReuses(t *testing.T) {
	p := New()
	b := p.Get(300 << 10)
	(*b)[0] = 42
	p.Put(b)
	// sync.Pool may drop an item at any time (a collection); reuse is
	// checked loosely, but whatever comes back must be large enough.
	got := p.Get(260 << 10)
	if len(*got) != 260<<10 || cap(*got) < 512<<10 {
		t.Fatalf("Get after Put: len %d cap %d, want len %d cap >= %d", len(*got), cap(*got), 260<<10, 512<<10)
	}
}

func TestPutOddCapacityGoesToTheTierItFills(t *testing.T) {
	p := New()
	// A buffer of capacity 3000 fills the 2 KiB tier, not the 4 KiB one:
	// a Get of 4096 must never receive it.
	odd := make([]byte, 10, 3000)
	p.Put(&odd)
	for range 100 {
		if b := p.Get(4096); cap(*b) < 4096 {
			t.Fatalf("Get(4096) returned capacity %d", cap(*b))
		}
	}
	b := p.Get(2048)
	if cap(*b) < 2048 || len(*b) != 2048 {
		t.Fatalf("Get(2048): len %d cap %d", len(*b), cap(*b))
	}
	tiny := make([]byte, 10)
	p.Put(&tiny) // below the smallest tier: dropped, not a panic
	huge := make([]byte, 0, 8<<20)
	p.Put(&huge) // above the largest tier: dropped
}

func TestTierFor(t *testing.T) {
	tests := []struct{ n, want int }{
		{0, 0}, {256, 0}, {257, 1}, {512, 1}, {513, 2}, {1 << 20, 12}, {1<<20 + 1, 13}, {4 << 20, 14}, {4<<20 + 1, 15},
	}
	for _, tt := range tests {
		if got := tierFor(tt.n); got != tt.want {
			t.Errorf("tierFor(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}

func BenchmarkGetPut(b *testing.B) {
	p := New()
	b.ReportAllocs()
	for b.Loop() {
		buf := p.Get(256<<10 + 20)
		p.Put(buf)
	}
}
