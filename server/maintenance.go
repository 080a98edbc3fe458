package server

import (
	"github.com/ndxp/ndxp/internal/hub"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// maintenanceService implements ndxpv1.MaintenanceServiceServer for
// admins: Backup and CheckStore (backup.go), Purge (purge.go).
type maintenanceService struct {
	ndxpv1.UnimplementedMaintenanceServiceServer
	hub *hub.Hub
	d   *Daemon // nil when the Server runs without a daemon (no data directory to back up)
}
