package hub

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSummaryIsSnapshotWithoutLines: the picture without agency lines has
// the same counts, backlog and alerts as the whole one, though it reads
// only the agencies with documents waiting.
func TestSummaryIsSnapshotWithoutLines(t *testing.T) {
	h, clock := retentionHub(t, nil)
	for i := range 3 {
		send(t, h, fmt.Sprint("H41 ", i), []string{codeH41}, body(10, byte(i)))
		clock.Advance(time.Minute)
	}
	send(t, h, "H14", []string{codeH14, codeH41}, body(10, 9))
	clock.Advance(h.cfg.UnackedAfter - time.Minute)
	whole, err := h.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sum, err := h.Summary(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Agencies != nil {
		t.Errorf("summary has %d agency lines, want none", len(sum.Agencies))
	}
	if len(whole.Alerts) < 3 || whole.PendingDeliveries != 5 {
		t.Fatalf("the whole picture has %d alerts and %d pending, want at least 3 and 5", len(whole.Alerts), whole.PendingDeliveries)
	}
	whole.Agencies = nil
	if diff := cmp.Diff(whole, sum); diff != "" {
		t.Errorf("summary differs from the whole snapshot (-whole +summary):\n%s", diff)
	}
}
