package server

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ndxp/ndxp/internal/hub"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// Purge runs the retention purge now (or, dry, lists what it would
// remove). older_than_days 0 means the hub's configured retention.
func (m *maintenanceService) Purge(ctx context.Context, req *ndxpv1.PurgeRequest) (*ndxpv1.PurgeResponse, error) {
	days := int(req.GetOlderThanDays())
	switch {
	case days < 0:
		return nil, invalidField("older_than_days", "must not be negative")
	case days > hub.MaxRetentionDays:
		return nil, invalidField("older_than_days", "%d is more than the limit of %d", days, hub.MaxRetentionDays)
	case days == 0:
		days = m.hub.RetentionDays()
		if days == 0 {
			return nil, invalidField("older_than_days", "0 means the hub's configured retention, and none is configured (ndxpd --retention-days); give a number of days")
		}
	}
	rep, err := m.hub.Purge(ctx, time.Duration(days)*24*time.Hour, req.GetDryRun())
	if err != nil {
		return nil, err
	}
	resp := &ndxpv1.PurgeResponse{
		Documents:  make([]*ndxpv1.PurgedDocument, 0, len(rep.Documents)),
		BytesFreed: rep.BytesFreed,
		DryRun:     rep.DryRun,
	}
	for _, d := range rep.Documents {
		resp.Documents = append(resp.Documents, &ndxpv1.PurgedDocument{
			DocumentId: d.ID,
			SenderCode: d.Sender,
			Subject:    d.Subject,
			CreateTime: timestamppb.New(d.Created),
			Bytes:      d.Bytes,
		})
	}
	return resp, nil
}
