package killtest

import (
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

const (
	agA = "000.00.00.K01"
	agB = "000.00.00.K02"
	agC = "000.00.00.K03"
)

// hist builds a hand-made history; times are plain integers.
type hist []porcupine.Operation

func (h *hist) add(call, ret int64, in Input, out Output) *hist {
	if out.Outcome == Unknown {
		ret = infinity
	}
	*h = append(*h, porcupine.Operation{Input: in, Call: call, Output: out, Return: ret})
	return h
}

func (h *hist) send(call, ret int64, ref string, to []string, id string, dup bool) *hist {
	return h.add(call, ret, Input{Kind: Send, Ref: ref, Recipients: to}, Output{ID: id, Duplicate: dup})
}

func (h *hist) sendFailed(call int64, ref string, to []string) *hist {
	return h.add(call, 0, Input{Kind: Send, Ref: ref, Recipients: to}, Output{Outcome: Unknown})
}

func (h *hist) deliver(call, ret int64, ref, id, to string) *hist {
	h.add(call, ret, Input{Kind: Deliver, Ref: ref, ID: id, Agency: to}, Output{})
	return h.add(ret, 0, Input{Kind: Ack, Ref: ref, ID: id, Agency: to}, Output{Outcome: Unknown})
}

func (h *hist) status(call, ret int64, id, from, code string) *hist {
	return h.add(call, ret, Input{Kind: Status, ID: id, Agency: from, Code: code}, Output{})
}

func (h *hist) report(call, ret int64, ref, id, from, code string, out Outcome) *hist {
	return h.add(call, ret, Input{Kind: Report, Ref: ref, ID: id, Agency: from, Code: code}, Output{Outcome: out})
}

func (h *hist) final(at int64, ref, to string, n int) *hist {
	return h.add(at, at, Input{Kind: Final, Ref: ref, Agency: to}, Output{N: n})
}

func (h *hist) finalStatus(at int64, ref, from, code string, n int) *hist {
	return h.add(at, at, Input{Kind: FinalStatus, Ref: ref, Agency: from, Code: code}, Output{N: n})
}

// good is a run the hub got right: a document to two recipients, both
// deliver and acknowledge, B reports 03, the sender sees every status.
func good() *hist {
	h := &hist{}
	h.send(10, 20, "r1", []string{agB, agC}, "id1", false)
	h.deliver(15, 16, "r1", "id1", agB) // pushed before the receipt reached the sender: allowed
	h.deliver(30, 31, "r1", "id1", agC)
	h.status(40, 41, "id1", agB, "01")
	h.status(42, 43, "id1", agC, "01")
	h.report(50, 55, "r1", "id1", agB, "03", OK)
	h.status(60, 61, "id1", agB, "03")
	h.final(100, "r1", agB, 1).final(100, "r1", agC, 1)
	h.finalStatus(100, "r1", agB, "01", 1).finalStatus(100, "r1", agC, "01", 1).finalStatus(100, "r1", agB, "03", 1)
	return h
}

func TestCheckGood(t *testing.T) {
	if r := Check(*good(), time.Minute); !r.OK() {
		t.Fatalf("a good history fails: %v %v", r.Violations, r.Inconclusive)
	}
}

// TestCheckFindsViolations feeds the checker histories the hub must never
// produce, each a good one with one thing wrong, and expects each refused:
// the checker is shown to check.
func TestCheckFindsViolations(t *testing.T) {
	tests := []struct {
		name string
		h    func() *hist
	}{
		{"duplicate delivery", func() *hist { return good().deliver(70, 71, "r1", "id1", agB) }},
		{"delivery of an unsent document", func() *hist {
			return good().deliver(70, 71, "r2", "id2", agB).final(100, "r2", agB, 1)
		}},
		{"delivery before the send", func() *hist {
			h := &hist{}
			h.deliver(1, 2, "r1", "id1", agB)
			h.send(10, 20, "r1", []string{agB}, "id1", false)
			return h.final(100, "r1", agB, 1)
		}},
		{"receipted document lost", func() *hist {
			h := &hist{}
			h.send(10, 20, "r1", []string{agB, agC}, "id1", false)
			h.deliver(30, 31, "r1", "id1", agB)
			return h.final(100, "r1", agB, 1).final(100, "r1", agC, 0)
		}},
		{"unreceipted send stored for one recipient only", func() *hist {
			h := &hist{}
			h.sendFailed(10, "r1", []string{agB, agC})
			h.deliver(30, 31, "r1", "id1", agB)
			return h.final(100, "r1", agB, 1).final(100, "r1", agC, 0)
		}},
		{"delivered under another id than the receipt's", func() *hist {
			h := &hist{}
			h.send(10, 20, "r1", []string{agB}, "id1", false)
			h.deliver(30, 31, "r1", "id9", agB)
			return h.final(100, "r1", agB, 1)
		}},
		{"stored twice: two receipts, two ids", func() *hist {
			h := &hist{}
			h.send(10, 20, "r1", []string{agB}, "id1", false)
			h.send(30, 40, "r1", []string{agB}, "id2", true)
			h.deliver(50, 51, "r1", "id1", agB)
			return h.final(100, "r1", agB, 1)
		}},
		{"a retry not answered as a duplicate", func() *hist {
			h := &hist{}
			h.send(10, 20, "r1", []string{agB}, "id1", false)
			h.send(30, 40, "r1", []string{agB}, "id1", false)
			h.deliver(50, 51, "r1", "id1", agB)
			return h.final(100, "r1", agB, 1)
		}},
		{"delivered to an agency not addressed", func() *hist {
			return good().deliver(70, 71, "r1", "id1", agA).final(100, "r1", agA, 1)
		}},
		{"status before it was reported", func() *hist {
			h := &hist{}
			h.send(10, 20, "r1", []string{agB}, "id1", false)
			h.deliver(30, 31, "r1", "id1", agB)
			h.status(32, 33, "id1", agB, "03")
			h.report(50, 55, "r1", "id1", agB, "03", OK)
			return h.final(100, "r1", agB, 1)
		}},
		{"status seen twice", func() *hist { return good().status(70, 71, "id1", agB, "03") }},
		{"01 never reached the sender", func() *hist {
			h := &hist{}
			h.send(10, 20, "r1", []string{agB}, "id1", false)
			h.deliver(30, 31, "r1", "id1", agB)
			return h.final(100, "r1", agB, 1).finalStatus(100, "r1", agB, "01", 0)
		}},
		{"status of a document nobody sent", func() *hist { return good().status(70, 71, "id7", agB, "01") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Check(*tt.h(), time.Minute)
			if len(r.Violations) == 0 {
				t.Fatalf("no violation found in %d operations", r.Operations)
			}
			t.Logf("found: %s", r.Violations[0])
		})
	}
}

// TestCheckAllowsUnknownOutcomes: a failed call may or may not have taken
// effect, and a retry settles it; none of these is a violation.
func TestCheckAllowsUnknownOutcomes(t *testing.T) {
	tests := []struct {
		name string
		h    func() *hist
	}{
		{"failed send never stored", func() *hist {
			h := &hist{}
			h.sendFailed(10, "r1", []string{agB})
			return h.final(100, "r1", agB, 0)
		}},
		{"failed send stored, delivered, no receipt", func() *hist {
			h := &hist{}
			h.sendFailed(10, "r1", []string{agB})
			h.deliver(30, 31, "r1", "id1", agB)
			h.status(40, 41, "id1", agB, "01")
			return h.final(100, "r1", agB, 1).finalStatus(100, "r1", agB, "01", 1)
		}},
		{"failed send stored, retry answered as duplicate", func() *hist {
			h := &hist{}
			h.sendFailed(10, "r1", []string{agB})
			h.send(20, 30, "r1", []string{agB}, "id1", true)
			h.deliver(25, 26, "r1", "id1", agB)
			return h.final(100, "r1", agB, 1)
		}},
		{"failed send not stored, retry stores it", func() *hist {
			h := &hist{}
			h.sendFailed(10, "r1", []string{agB})
			h.send(20, 30, "r1", []string{agB}, "id1", false)
			h.deliver(40, 41, "r1", "id1", agB)
			return h.final(100, "r1", agB, 1)
		}},
		{"report lost, its retry finds it recorded", func() *hist {
			h := &hist{}
			h.send(10, 20, "r1", []string{agB}, "id1", false)
			h.deliver(30, 31, "r1", "id1", agB)
			h.report(40, 0, "r1", "id1", agB, "03", Unknown)
			h.status(45, 46, "id1", agB, "03")
			h.report(50, 55, "r1", "id1", agB, "03", Already)
			return h.final(100, "r1", agB, 1).finalStatus(100, "r1", agB, "03", 1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := Check(*tt.h(), time.Minute); !r.OK() {
				t.Fatalf("refused: %v", r.Violations)
			}
		})
	}
}

// TestHistoryCoalescesFailures: repeated failed attempts of one call are
// one pending operation, so a long outage does not blow up the search.
func TestHistoryCoalescesFailures(t *testing.T) {
	h := NewHistory()
	for range 50 {
		h.Add(Input{Kind: Send, Ref: "r1", Recipients: []string{agB}}, h.Now(), Output{Outcome: Unknown}, 0)
	}
	h.Add(Input{Kind: Send, Ref: "r1", Recipients: []string{agB}}, h.Now(), Output{ID: "id1"}, h.Now())
	if n := h.Len(); n != 2 {
		t.Fatalf("%d operations, want 2", n)
	}
	r := Check(h.Operations(), time.Minute)
	if !r.OK() || !strings.Contains(Model.DescribeOperation(h.Operations()[1].Input, h.Operations()[1].Output), "id1") {
		t.Fatalf("%+v", r)
	}
}
