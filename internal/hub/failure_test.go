package hub

import (
	"testing"
	"time"
)

// failureAlert returns the delivery_failures alert of code, if any.
func failureAlert(t testing.TB, h *Hub, code string) (Alert, bool) {
	t.Helper()
	s, err := h.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range s.Alerts {
		if a.Kind == AlertDeliveryFailures && a.Agency == code {
			return a, true
		}
	}
	return Alert{}, false
}

// TestReportDeliveryFailure: a recipient's failure report keeps the
// document waiting, is counted and traced, raises an alert that survives
// a restart, and is refused to anyone else and after the acknowledgement.
func TestReportDeliveryFailure(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)}
	h, st := exchangeHubAt(t, dir, clock.Now)
	mustCreate(t, h, codeG22, "Văn phòng Chính phủ", StagePilot)
	mustCreate(t, h, codeH41, "UBND tỉnh Nghệ An", StagePilot)
	mustCreate(t, h, codeH14, "UBND tỉnh Cao Bằng", StagePilot)
	older := send(t, h, "Cũ hơn", []string{codeH41})
	clock.Advance(time.Minute)
	id := send(t, h, "Không nhận được", []string{codeH41})
	other := send(t, h, "Chỉ cho Cao Bằng", []string{codeH14})
	ctx := t.Context()

	refusals := []struct {
		name string
		p    Principal
		doc  string
		kind error
	}{
		{"the sender", agency(codeG22), id, ErrNotFound},
		{"not a recipient", agency(codeH14), id, ErrNotFound},
		{"not a recipient of that one", agency(codeH41), other, ErrNotFound},
		{"an admin", admin, id, ErrPermission},
		{"not a document id", agency(codeH41), "nope", ErrInvalid},
	}
	for _, r := range refusals {
		checkErr(t, r.name, h.ReportDeliveryFailure(ctx, r.p, r.doc), r.kind, "")
	}
	if _, ok := failureAlert(t, h, codeH41); ok {
		t.Fatal("a delivery_failures alert before any failure")
	}

	clock.Advance(time.Minute)
	first := clock.Now()
	if err := h.ReportDeliveryFailure(ctx, agency(codeH41), id); err != nil {
		t.Fatalf("ReportDeliveryFailure: %v", err)
	}
	clock.Advance(time.Minute)
	last := clock.Now()
	if err := h.ReportDeliveryFailure(ctx, agency(codeH41), id); err != nil {
		t.Fatalf("ReportDeliveryFailure again: %v", err)
	}
	if got := h.Metrics().DeliveryFailures.Load(); got != 2 {
		t.Errorf("DeliveryFailures = %d, want 2", got)
	}

	check := func(h *Hub, when string) {
		t.Helper()
		q := queueOf(t, h, codeH41)
		if len(q) != 2 || q[1].DocID != id || q[1].Failures != 2 {
			t.Errorf("%s: queue of %s %+v, want both documents still waiting, the second with 2 failures", when, codeH41, q)
		}
		v, err := h.Trace(ctx, admin, id)
		if err != nil {
			t.Fatal(err)
		}
		d := v.Deliveries[0]
		if d.Failures != 2 || d.LastFailure == nil || !d.LastFailure.Equal(last) || d.Status != StatusNone || d.QueueSeq == 0 {
			t.Errorf("%s: delivery %+v, want 2 failures, the last at %v, still queued", when, d.Delivery, last)
		}
		var steps []string
		for _, s := range d.Steps {
			steps = append(steps, s.What)
		}
		if len(steps) != 3 || steps[1] != stepDeliveryFailed || steps[2] != stepDeliveryFailed || !d.Steps[1].Time.Equal(first) {
			t.Errorf("%s: steps %q, want queued then two %q", when, steps, stepDeliveryFailed)
		}
		a, ok := failureAlert(t, h, codeH41)
		if !ok {
			t.Fatalf("%s: no delivery_failures alert for %s", when, codeH41)
		}
		if a.Document != id || a.Count != 1 || a.Failures != 2 || !a.LastFailure.Equal(last) || a.Name != "UBND tỉnh Nghệ An" || a.Message == "" {
			t.Errorf("%s: alert %+v, want document %s, 1 document, 2 failures", when, a, id)
		}
		s, err := h.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, as := range s.Agencies {
			if as.Code == codeH41 && (as.Pending != 2 || as.Failures != 2 || as.OldestPendingDoc != older) {
				t.Errorf("%s: agency line %+v, want 2 pending, 2 failures, oldest %s", when, as, older)
			}
		}
	}
	check(h, "after the reports")
	h = restart(t, h, st, dir, clock.Now)
	check(h, "after a restart")

	ack(t, h, id, codeH41)
	checkErr(t, "after the acknowledgement", h.ReportDeliveryFailure(ctx, agency(codeH41), id), ErrPrecondition, "document_id")
	if a, ok := failureAlert(t, h, codeH41); ok {
		t.Errorf("alert %+v after the document was taken", a)
	}
}
