package server

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ndxp/ndxp/internal/hub"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// monitorService implements ndxpv1.MonitorServiceServer for admins.
type monitorService struct {
	ndxpv1.UnimplementedMonitorServiceServer
	hub *hub.Hub
}

// watchHeartbeat is the longest gap between two watched snapshots.
const watchHeartbeat = 10 * time.Second

func (m *monitorService) GetSnapshot(ctx context.Context, req *ndxpv1.GetSnapshotRequest) (*ndxpv1.GetSnapshotResponse, error) {
	s, err := m.picture(ctx, req.GetIncludeAgencies())
	if err != nil {
		return nil, err
	}
	return &ndxpv1.GetSnapshotResponse{Snapshot: snapshotToProto(s, req.GetIncludeAgencies())}, nil
}

func (m *monitorService) WatchSnapshot(req *ndxpv1.WatchSnapshotRequest, stream grpc.ServerStreamingServer[ndxpv1.WatchSnapshotResponse]) error {
	ctx := stream.Context()
	minInterval := time.Second
	if d := req.GetMinInterval(); d != nil {
		if err := d.CheckValid(); err != nil {
			return invalidField("min_interval", "%v", err)
		}
		minInterval = max(d.AsDuration(), 100*time.Millisecond)
	}
	changes := m.hub.Watch(ctx)
	heartbeat := time.NewTicker(watchHeartbeat)
	defer heartbeat.Stop()
	lines := req.GetIncludeAgencies()
	var sent []hub.AgencyStatus // the lines the caller has, with agency_changes
	for {
		s, err := m.picture(ctx, lines)
		if err != nil {
			return err
		}
		resp := &ndxpv1.WatchSnapshotResponse{}
		if lines && req.GetAgencyChanges() {
			all := s.Agencies
			if sent != nil {
				s.Agencies, resp.RemovedAgencyCodes = hub.DiffAgencies(sent, all)
				resp.AgencyChangesOnly = true
			}
			sent = all
		}
		resp.Snapshot = snapshotToProto(s, lines)
		if err := stream.Send(resp); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-heartbeat.C:
		case <-changes:
		}
		select { // coalesce bursts of changes
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(minInterval):
		}
	}
}

// picture takes the snapshot, without agency lines unless asked for: then
// its cost does not grow with the registry.
func (m *monitorService) picture(ctx context.Context, lines bool) (hub.Snapshot, error) {
	if lines {
		return m.hub.Snapshot(ctx)
	}
	return m.hub.Summary(ctx)
}

func optTimestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func snapshotToProto(s hub.Snapshot, withAgencies bool) *ndxpv1.Snapshot {
	out := &ndxpv1.Snapshot{
		Time:              timestamppb.New(s.Time),
		Overview:          overviewToProto(s.Overview),
		DocumentsToday:    int32(s.DocumentsToday),
		DeliveredToday:    int32(s.DeliveredToday),
		PendingDeliveries: int32(s.PendingDeliveries),
		OldestPendingTime: optTimestamp(s.OldestPending),
		UnackedAfter:      durationpb.New(s.Thresholds.UnackedAfter),
	}
	out.Overview.Time = out.Time
	if withAgencies {
		for _, a := range s.Agencies {
			out.Agencies = append(out.Agencies, &ndxpv1.AgencyActivity{
				Code: a.Code, Name: a.Name, Stage: stageToProto(a.Stage), Suspended: a.Suspended,
				Presence: presenceToProto(hub.Presence{Online: a.Online, Via: a.Via, ConnectedSince: a.ConnectedSince,
					LastSeen: a.LastSeen, LastPolled: a.LastPolled}),
				Pending:                 int32(a.Pending),
				OldestPendingTime:       optTimestamp(a.OldestPending),
				SentToday:               int32(a.SentToday),
				ReceivedToday:           int32(a.ReceivedToday),
				OldestPendingDocumentId: a.OldestPendingDoc,
				Failures:                int32(a.Failures),
			})
		}
	}
	for _, m := range s.PerMinute {
		out.PerMinute = append(out.PerMinute, &ndxpv1.MinuteTraffic{Minute: timestamppb.New(m.Minute), Sent: int32(m.Sent), Delivered: int32(m.Delivered)})
	}
	for _, a := range s.Alerts {
		kind := ndxpv1.AlertKind_ALERT_KIND_UNACKNOWLEDGED
		switch a.Kind {
		case hub.AlertOfflineBacklog:
			kind = ndxpv1.AlertKind_ALERT_KIND_OFFLINE_BACKLOG
		case hub.AlertDeliveryFailures:
			kind = ndxpv1.AlertKind_ALERT_KIND_DELIVERY_FAILURES
		}
		out.Alerts = append(out.Alerts, &ndxpv1.Alert{
			Kind: kind, AgencyCode: a.Agency, AgencyName: a.Name, DocumentId: a.Document,
			SinceTime: optTimestamp(a.Since), Count: int32(a.Count), Message: a.Message,
			Failures: int32(a.Failures), LastFailureTime: optTimestamp(a.LastFailure),
		})
	}
	return out
}
