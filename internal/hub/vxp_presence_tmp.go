package hub

import "context"

// Stand-ins for polling presence and delivery failures (replaced by
// their implementation).

// Polled records that agency code polled the hub (the VXP API): it counts
// as online for Config.PollWindow after each poll.
func (h *Hub) Polled(code string) {}

// ReportDeliveryFailure records that a recipient could not take a
// document it was given: the document stays waiting, the failure is
// counted on its delivery and raises an alert.
func (h *Hub) ReportDeliveryFailure(ctx context.Context, p Principal, docID string) error {
	return errNotYet
}
