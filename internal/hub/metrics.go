package hub

import "sync/atomic"

// Metrics counts what the hub did since it started. Exporters (Prometheus,
// the dashboard) read it; the hub only adds.
type Metrics struct {
	DocumentsSent       atomic.Int64  // documents accepted
	Deliveries          atomic.Int64  // arrival acknowledgements (status 01)
	QueuedDeliveries    atomic.Int64  // arrival events queued
	Redeliveries        atomic.Int64  // events pushed again after the ack deadline
	DeliveryFailures    atomic.Int64  // recipients' reports that they could not take a document
	OnlineSubscriptions atomic.Int64  // open subscription streams
	Refusals            refusalCounts // calls refused by a limit, by Limit
}

func (m *Metrics) sent(recipients int) {
	m.DocumentsSent.Add(1)
	m.QueuedDeliveries.Add(int64(recipients))
}
func (m *Metrics) delivered(n int) { m.Deliveries.Add(int64(n)) }
func (m *Metrics) redelivered()    { m.Redeliveries.Add(1) }
func (m *Metrics) online(d int)    { m.OnlineSubscriptions.Add(int64(d)) }
