package hubtest

import "github.com/ndxp/ndxp/internal/edxml/edxmltest"

// Test packets (edxmltest), here beside the other helpers of hub tests.
var (
	Packet       = edxmltest.Packet
	StatusPacket = edxmltest.StatusPacket
)

// PacketAttachment is an attachment of a test packet.
type PacketAttachment = edxmltest.PacketAttachment
