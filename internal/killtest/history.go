// Package killtest runs ndxpd clusters as real processes, kills their
// nodes with SIGKILL under a load of sends, acknowledgements and status
// reports, and checks what the agencies saw: a history of their calls and
// handler invocations, checked with porcupine against a model of what the
// hub promises (docs/cluster.md, docs/domain.md).
//
// The tests are in this package; scripts/cluster-kill.sh is the same test
// for an operator, with the command-line tools.
package killtest

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Kind is what an operation of a History did.
type Kind int

// The operations. Every one concerns one document, named by its reference
// (or, until the checker maps it, its hub id).
const (
	// Send is one attempt of a sender's Send: Recipients in, the receipt
	// (ID, Duplicate) out, or Unknown when the call failed.
	Send Kind = iota
	// Deliver is one call of Agency's handler for the document's arrival.
	Deliver
	// Ack is Agency's handler returning nil: the SDK acknowledges the
	// event after it, with an outcome the caller never sees.
	Ack
	// Report is one ReportStatus call by Agency with Code.
	Report
	// Status is the sender's handler seeing Agency's status Code.
	Status
	// Final is, after the run, how many times Agency's handler got the
	// document (N).
	Final
	// FinalStatus is, after the run, how many times the sender saw
	// Agency's status Code (N).
	FinalStatus
)

var kindNames = [...]string{"Send", "Deliver", "Ack", "Report", "Status", "Final", "FinalStatus"}

func (k Kind) String() string { return kindNames[k] }

// Outcome is how a call ended.
type Outcome int

// The outcomes.
const (
	OK Outcome = iota
	// Unknown: the call failed, and may or may not have taken effect; the
	// checker treats it as pending for ever (its return at infinity).
	Unknown
	// Already: a Report refused because the status was already there
	// (a retry of a report whose answer was lost).
	Already
)

// Input is what an operation was asked.
type Input struct {
	Kind       Kind
	Ref        string   // the document's reference ("" until mapped, for Status)
	ID         string   // the hub id, where the operation names it
	Agency     string   // Deliver, Ack, Report, Final: the recipient; Status, FinalStatus: the recipient who reported
	Recipients []string // Send
	Code       string   // Report, Status, FinalStatus
}

// Output is what an operation answered.
type Output struct {
	Outcome   Outcome
	ID        string // Send: the receipt's id
	Duplicate bool   // Send: the receipt says a retry of a stored send
	N         int    // Final, FinalStatus
}

// infinity is the return time of an operation whose outcome is unknown:
// it may take effect at any moment after its call.
const infinity = math.MaxInt64

// History records operations as the load makes them. It is safe for
// concurrent use; times are nanoseconds since it was made, on the
// monotonic clock, so every operation of the test process shares one clock.
type History struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
	// unknown coalesces the failed attempts of one call (same kind,
	// document, agency, code) into one pending operation from the first
	// attempt's call: a retried send or report is idempotent, so any
	// attempt taking effect is the first one taking effect, and one
	// operation concurrent with everything after it allows all of them.
	unknown map[string]bool
}

// NewHistory starts an empty history.
func NewHistory() *History {
	return &History{start: time.Now(), unknown: map[string]bool{}}
}

// Now is the history's clock.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// Add records an operation called at call and answered at ret (ignored
// for an Unknown outcome, which is pending for ever).
func (h *History) Add(in Input, call int64, out Output, ret int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if out.Outcome == Unknown {
		key := fmt.Sprint(in.Kind, in.Ref, in.ID, in.Agency, in.Code)
		if h.unknown[key] {
			return
		}
		h.unknown[key] = true
		ret = infinity
	}
	in.Recipients = slices.Sorted(slices.Values(in.Recipients))
	h.ops = append(h.ops, porcupine.Operation{ClientId: 0, Input: in, Call: call, Output: out, Return: ret})
}

// Len is the number of operations recorded.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

// Operations returns a copy of the operations recorded.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// docState is the model's state of one document: whether a send of it
// took effect, its id, its recipients, and per recipient what happened.
// It is never changed in place: porcupine keeps states it backtracks to.
type docState struct {
	sent       bool
	id         string
	recipients []string
	delivered  map[string]int  // recipient -> handler calls
	acked      map[string]bool // recipient -> acknowledged
	reported   map[string]bool // recipient/code -> status recorded
	seen       map[string]int  // recipient/code -> status events at the sender
}

func (s docState) clone() docState {
	s.delivered = maps.Clone(s.delivered)
	s.acked = maps.Clone(s.acked)
	s.reported = maps.Clone(s.reported)
	s.seen = maps.Clone(s.seen)
	return s
}

// key is a canonical form of the state, for Equal.
func (s docState) key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v|%s|%v", s.sent, s.id, s.recipients)
	for _, m := range []map[string]int{s.delivered, s.seen} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(&b, "|%s=%d", k, m[k])
		}
		b.WriteString("#")
	}
	for _, m := range []map[string]bool{s.acked, s.reported} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if m[k] {
				fmt.Fprintf(&b, "|%s", k)
			}
		}
		b.WriteString("#")
	}
	return b.String()
}

func (s docState) recipient(a string) bool { return slices.Contains(s.recipients, a) }

// step is the model: whether out is a possible answer to in in state s,
// and the state after. The rules are the hub's promises:
//   - a receipt names the one id of its reference, and says "duplicate"
//     exactly when an earlier send of the reference took effect;
//   - a handler gets a document only after a send of it took effect, only
//     if it is a recipient, under the receipt's id, and never twice;
//   - a status reaches the sender only after it was recorded (01: after
//     the recipient acknowledged the arrival), and never twice;
//   - at the end, every recipient of a stored document got it exactly
//     once (so a receipted document lost is an error), and every status
//     recorded reached the sender exactly once.
func step(st any, input, output any) (bool, any) {
	s, in, out := st.(docState), input.(Input), output.(Output)
	rc := in.Agency + "/" + in.Code
	switch in.Kind {
	case Send:
		if out.Outcome == Unknown {
			if s.sent {
				return true, s
			}
			s = s.clone()
			s.sent, s.recipients = true, in.Recipients
			return true, s
		}
		if s.sent != out.Duplicate || (s.id != "" && s.id != out.ID) {
			return false, s
		}
		s = s.clone()
		s.sent, s.id = true, out.ID
		if s.recipients == nil {
			s.recipients = in.Recipients
		}
		return true, s
	case Deliver:
		if !s.sent || !s.recipient(in.Agency) || (s.id != "" && s.id != in.ID) || s.delivered[in.Agency] > 0 {
			return false, s
		}
		s = s.clone()
		s.id = in.ID
		s.delivered[in.Agency]++
		return true, s
	case Ack:
		if s.delivered[in.Agency] == 0 {
			return false, s
		}
		s = s.clone()
		s.acked[in.Agency] = true
		return true, s
	case Report:
		switch out.Outcome {
		case OK:
			if s.delivered[in.Agency] == 0 || s.reported[rc] {
				return false, s
			}
		case Already:
			return s.reported[rc], s
		case Unknown:
			if s.delivered[in.Agency] == 0 || s.reported[rc] {
				return true, s // it did nothing, or nothing more
			}
		}
		s = s.clone()
		s.reported[rc] = true
		return true, s
	case Status:
		recorded := s.reported[rc]
		if in.Code == "01" {
			recorded = s.acked[in.Agency]
		}
		if !recorded || s.seen[rc] > 0 {
			return false, s
		}
		s = s.clone()
		s.seen[rc]++
		return true, s
	case Final:
		want := 0
		if s.sent && s.recipient(in.Agency) {
			want = 1
		}
		return out.N == s.delivered[in.Agency] && out.N == want, s
	case FinalStatus:
		want := 0
		if s.reported[rc] || (in.Code == "01" && s.delivered[in.Agency] > 0) {
			want = 1
		}
		return out.N == s.seen[rc] && out.N == want, s
	}
	return false, s
}

// Model is the porcupine model of one document's history; the checker
// partitions a run's history by document itself.
var Model = porcupine.Model{
	Init: func() any {
		return docState{delivered: map[string]int{}, acked: map[string]bool{}, reported: map[string]bool{}, seen: map[string]int{}}
	},
	Step:  step,
	Equal: func(a, b any) bool { return a.(docState).key() == b.(docState).key() },
	DescribeOperation: func(input, output any) string {
		in, out := input.(Input), output.(Output)
		res := map[Outcome]string{OK: "ok", Unknown: "unknown", Already: "already"}[out.Outcome]
		switch in.Kind {
		case Send:
			return fmt.Sprintf("Send(%s to %v) -> %s %s dup=%v", in.Ref, in.Recipients, res, out.ID, out.Duplicate)
		case Final, FinalStatus:
			return fmt.Sprintf("%s(%s %s %s) -> %d", in.Kind, in.Agency, in.Code, in.ID, out.N)
		}
		return fmt.Sprintf("%s(%s %s %s) -> %s", in.Kind, in.Agency, in.ID, in.Code, res)
	},
	DescribeState: func(st any) string { return st.(docState).key() },
}

// Violation is a document whose history the model does not allow.
type Violation struct {
	Ref string
	// Ops are its operations in call order, described.
	Ops []string
}

func (v Violation) String() string {
	return fmt.Sprintf("document %s:\n  %s", v.Ref, strings.Join(v.Ops, "\n  "))
}

// CheckResult is what Check found.
type CheckResult struct {
	Documents    int         // partitions checked
	Operations   int         // operations checked
	Violations   []Violation // documents whose history is impossible
	Inconclusive []string    // documents the checker ran out of time on
}

// OK reports whether the history is possible and was fully checked.
func (r CheckResult) OK() bool { return len(r.Violations) == 0 && len(r.Inconclusive) == 0 }

// Check checks a history, one document at a time (a document's
// operations do not constrain another's). Operations naming only a hub id
// (status events) are filed under the reference that a receipt or a
// delivery gave that id; an id nothing names stands alone, and fails.
// timeout bounds the check of each document.
func Check(ops []porcupine.Operation, timeout time.Duration) CheckResult {
	refOf := map[string]string{}
	for _, op := range ops {
		in, out := op.Input.(Input), op.Output.(Output)
		switch {
		case in.Kind == Send && out.ID != "":
			refOf[out.ID] = in.Ref
		case in.Ref != "" && in.ID != "":
			refOf[in.ID] = in.Ref
		}
	}
	parts := map[string][]porcupine.Operation{}
	for _, op := range ops {
		in := op.Input.(Input)
		ref := in.Ref
		if ref == "" {
			if ref = refOf[in.ID]; ref == "" {
				ref = "id:" + in.ID
			}
		}
		in.Ref = ref
		op.Input = in
		parts[ref] = append(parts[ref], op)
	}
	res := CheckResult{Documents: len(parts), Operations: len(ops)}
	for _, ref := range slices.Sorted(maps.Keys(parts)) {
		p := parts[ref]
		switch porcupine.CheckOperationsTimeout(Model, p, timeout) {
		case porcupine.Illegal:
			sort.SliceStable(p, func(i, j int) bool { return p[i].Call < p[j].Call })
			v := Violation{Ref: ref}
			for _, op := range p {
				ret := "∞"
				if op.Return != infinity {
					ret = fmt.Sprint(time.Duration(op.Return))
				}
				v.Ops = append(v.Ops, fmt.Sprintf("[%v, %s] %s", time.Duration(op.Call), ret, Model.DescribeOperation(op.Input, op.Output)))
			}
			res.Violations = append(res.Violations, v)
		case porcupine.Unknown:
			res.Inconclusive = append(res.Inconclusive, ref)
		}
	}
	return res
}
