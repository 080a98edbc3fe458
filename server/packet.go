package server

import (
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ndxp/ndxp/internal/hub"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// packetStream adapts a packet upload to hub.ChunkSource; the first
// message's data is handed out first.
type packetStream struct {
	stream grpc.ClientStreamingServer[ndxpv1.SendPacketRequest, ndxpv1.SendPacketResponse]
	first  []byte
}

func (c *packetStream) Next() (hub.Chunk, error) {
	if c.first != nil {
		d := c.first
		c.first = nil
		return hub.Chunk{Data: d}, nil
	}
	for {
		msg, err := c.stream.Recv()
		if err != nil {
			return hub.Chunk{}, err
		}
		if len(msg.GetRecipients()) > 0 {
			return hub.Chunk{}, invalidField("recipients", "only the first message of a packet upload may name recipients")
		}
		if len(msg.GetData()) > maxChunk {
			return hub.Chunk{}, invalidField("data", "%d bytes, the limit is %d", len(msg.GetData()), maxChunk)
		}
		if len(msg.GetData()) > 0 {
			return hub.Chunk{Data: msg.GetData()}, nil
		}
	}
}

func (e *exchangeService) SendPacket(stream grpc.ClientStreamingServer[ndxpv1.SendPacketRequest, ndxpv1.SendPacketResponse]) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return invalidField("data", "the upload carried no packet")
	}
	if err != nil {
		return err
	}
	if len(first.GetData()) > maxChunk {
		return invalidField("data", "%d bytes, the limit is %d", len(first.GetData()), maxChunk)
	}
	src := &packetStream{stream: stream, first: first.GetData()}
	if len(src.first) == 0 {
		src.first = nil
	}
	res, err := e.hub.SendPacket(ctx, principalFrom(ctx), src, hub.PacketOptions{Recipients: first.GetRecipients()})
	if err != nil {
		return err
	}
	out := &ndxpv1.SendPacketResponse{DocumentId: res.DocID, Signature: signatureToProto(res.Signature), Warnings: warningsToProto(res.Warnings)}
	switch {
	case res.Receipt != nil:
		r := res.Receipt
		out.Result = &ndxpv1.SendPacketResponse_Document{Document: &ndxpv1.SendDocumentResponse{
			DocumentId: r.ID, Reference: r.Reference, AcceptTime: timestamppb.New(r.Accepted), Recipients: r.Recipients, Duplicate: r.Duplicate,
		}}
	case res.Status != nil:
		out.Result = &ndxpv1.SendPacketResponse_Status{Status: statusToProto(*res.Status)}
	case res.Recall != nil:
		out.Result = &ndxpv1.SendPacketResponse_Recall{Recall: &ndxpv1.RecallDocumentResponse{Withdrawn: res.Recall.Withdrawn, Asked: res.Recall.Asked}}
	}
	return stream.SendAndClose(out)
}

func (e *exchangeService) FetchPacket(req *ndxpv1.FetchPacketRequest, stream grpc.ServerStreamingServer[ndxpv1.FetchPacketResponse]) error {
	ctx := stream.Context()
	p := principalFrom(ctx)
	if req.GetRecipientCode() != "" || req.GetStatusCode() != "" {
		if req.GetRecipientCode() == "" || req.GetStatusCode() == "" {
			return invalidField("status_code", "a status packet is named by both recipient_code and status_code")
		}
		b, err := e.hub.StatusPacket(ctx, p, req.GetDocumentId(), req.GetRecipientCode(), hub.Status(req.GetStatusCode()))
		if err != nil {
			return err
		}
		return stream.Send(&ndxpv1.FetchPacketResponse{Data: b})
	}
	pb, err := e.hub.OpenPacket(ctx, p, req.GetDocumentId())
	if err != nil {
		return err
	}
	defer pb.Body.Close()
	buf := make([]byte, fetchChunk)
	first := true
	for {
		n, rerr := io.ReadFull(pb.Body, buf)
		if n > 0 || first {
			if err := stream.Send(&ndxpv1.FetchPacketResponse{Data: buf[:n], Original: first && pb.Original}); err != nil {
				return err
			}
			first = false
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
