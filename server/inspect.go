package server

import (
	"github.com/ndxp/ndxp/internal/hub"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// HeaderProto converts a header as GetDocument returns it to its owner,
// content and packet details included: for tools that show what the hub
// would store (ndxp edxml inspect) in the API's shape.
func HeaderProto(h hub.Header) *ndxpv1.DocumentHeader { return headerToProto(h, true) }

// StatusProto converts a status report as the API returns it.
func StatusProto(r hub.StatusReport) *ndxpv1.StatusReport { return statusToProto(r) }
