package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ndxp/ndxp/internal/hub"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// Exchange limits enforced at the edge.
const (
	// maxChunk bounds one attachment chunk on the wire.
	maxChunk = 1 << 20
	// fetchChunk is the chunk size the hub streams attachments in.
	fetchChunk = 256 << 10
)

// exchangeService implements ndxpv1.ExchangeServiceServer for agencies.
type exchangeService struct {
	ndxpv1.UnimplementedExchangeServiceServer
	hub *hub.Hub
	log *slog.Logger
}

// chunkStream adapts the gRPC upload stream to hub.ChunkSource.
type chunkStream struct {
	stream grpc.ClientStreamingServer[ndxpv1.SendDocumentRequest, ndxpv1.SendDocumentResponse]
}

func (c chunkStream) Next() (hub.Chunk, error) {
	msg, err := c.stream.Recv()
	if err != nil {
		return hub.Chunk{}, err
	}
	return uploadChunk(msg.GetChunk(), msg.GetDigest())
}

// uploadChunk checks a chunk or digest of an upload (exactly one is set).
func uploadChunk(ch *ndxpv1.AttachmentChunk, d *ndxpv1.AttachmentDigest) (hub.Chunk, error) {
	if d != nil {
		// Never nil, even when empty: a Chunk with a Digest is a digest.
		return hub.Chunk{Index: int(d.GetIndex()), Digest: append([]byte{}, d.GetSha256()...)}, nil
	}
	if ch == nil {
		return hub.Chunk{}, invalidField("header", "only the first message of a send carries the header")
	}
	if len(ch.GetData()) > maxChunk {
		return hub.Chunk{}, invalidField("chunk.data", "%d bytes, the limit is %d", len(ch.GetData()), maxChunk)
	}
	return hub.Chunk{Index: int(ch.GetIndex()), Offset: ch.GetOffset(), Data: ch.GetData()}, nil
}

func (e *exchangeService) SendDocument(stream grpc.ClientStreamingServer[ndxpv1.SendDocumentRequest, ndxpv1.SendDocumentResponse]) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return invalidField("header", "the send carried no header")
	}
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if h == nil {
		return invalidField("header", "the first message of a send must carry the header")
	}
	if err := e.hub.CheckHeaderSize(proto.Size(h)); err != nil {
		return err
	}
	r, err := e.hub.Send(ctx, principalFrom(ctx), headerFromProto(h), chunkStream{stream})
	if err != nil {
		return err
	}
	return stream.SendAndClose(&ndxpv1.SendDocumentResponse{
		DocumentId: r.ID,
		Reference:  r.Reference,
		AcceptTime: timestamppb.New(r.Accepted),
		Recipients: r.Recipients,
		Duplicate:  r.Duplicate,
	})
}

func (e *exchangeService) Subscribe(req *ndxpv1.SubscribeRequest, stream grpc.ServerStreamingServer[ndxpv1.SubscribeResponse]) error {
	ctx := stream.Context()
	opts := hub.SubscribeOptions{Window: int(req.GetWindow()), AckDeadline: time.Duration(req.GetAckDeadlineSeconds()) * time.Second}
	return e.hub.Subscribe(ctx, principalFrom(ctx), opts, func(p hub.Push) error {
		if p.CaughtUp {
			return stream.Send(&ndxpv1.SubscribeResponse{Message: &ndxpv1.SubscribeResponse_CaughtUp{
				CaughtUp: &ndxpv1.CaughtUp{Time: timestamppb.New(p.Time)},
			}})
		}
		return stream.Send(&ndxpv1.SubscribeResponse{Message: &ndxpv1.SubscribeResponse_Event{Event: eventToProto(p)}})
	})
}

func (e *exchangeService) AcknowledgeEvents(ctx context.Context, req *ndxpv1.AcknowledgeEventsRequest) (*ndxpv1.AcknowledgeEventsResponse, error) {
	n, err := e.hub.Acknowledge(ctx, principalFrom(ctx), req.GetSequences())
	if err != nil {
		return nil, err
	}
	return &ndxpv1.AcknowledgeEventsResponse{Removed: int32(n)}, nil
}

func (e *exchangeService) FetchAttachment(req *ndxpv1.FetchAttachmentRequest, stream grpc.ServerStreamingServer[ndxpv1.FetchAttachmentResponse]) error {
	ctx := stream.Context()
	att, err := e.hub.OpenAttachment(ctx, principalFrom(ctx), req.GetDocumentId(), int(req.GetIndex()))
	if err != nil {
		return err
	}
	defer att.Body.Close()
	off := req.GetOffset()
	if off < 0 || off > att.Info.Size {
		return invalidField("offset", "%d is outside the attachment's %d bytes", off, att.Info.Size)
	}
	if _, err := att.Body.Seek(off, io.SeekStart); err != nil {
		return err
	}
	buf := make([]byte, max(1, min(fetchChunk, att.Info.Size-off))) // small attachments get small buffers
	for {
		n, rerr := io.ReadFull(att.Body, buf)
		if n > 0 {
			if err := stream.Send(&ndxpv1.FetchAttachmentResponse{Chunk: &ndxpv1.AttachmentChunk{
				Index: req.GetIndex(), Offset: off, Data: buf[:n],
			}}); err != nil {
				return err
			}
			off += int64(n)
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

func (e *exchangeService) GetDocument(ctx context.Context, req *ndxpv1.GetDocumentRequest) (*ndxpv1.GetDocumentResponse, error) {
	v, err := e.hub.GetDocument(ctx, principalFrom(ctx), req.GetDocumentId())
	if err != nil {
		return nil, err
	}
	return &ndxpv1.GetDocumentResponse{Document: documentToProto(v, true)}, nil
}

func (e *exchangeService) ReportStatus(ctx context.Context, req *ndxpv1.ReportStatusRequest) (*ndxpv1.ReportStatusResponse, error) {
	r, err := e.hub.ReportStatus(ctx, principalFrom(ctx), hub.StatusRequest{
		DocID: req.GetDocumentId(), Code: hub.Status(req.GetCode()), Reason: req.GetReason(), Staff: req.GetStaff(),
	})
	if err != nil {
		return nil, err
	}
	return &ndxpv1.ReportStatusResponse{Status: statusToProto(r)}, nil
}

func (e *exchangeService) RecallDocument(ctx context.Context, req *ndxpv1.RecallDocumentRequest) (*ndxpv1.RecallDocumentResponse, error) {
	w, a, err := e.hub.Recall(ctx, principalFrom(ctx), req.GetDocumentId(), req.GetReason())
	if err != nil {
		return nil, err
	}
	return &ndxpv1.RecallDocumentResponse{Withdrawn: w, Asked: a}, nil
}

func (e *exchangeService) GetTrace(ctx context.Context, req *ndxpv1.GetTraceRequest) (*ndxpv1.GetTraceResponse, error) {
	v, err := e.hub.Trace(ctx, principalFrom(ctx), req.GetDocumentId())
	if err != nil {
		return nil, err
	}
	return &ndxpv1.GetTraceResponse{Document: documentToProto(v, true), Recipients: tracesToProto(v.Deliveries)}, nil
}

func listFilter(counterpart, status string, since, until *timestamppb.Timestamp) hub.ListFilter {
	f := hub.ListFilter{Counterpart: counterpart, Status: status}
	if since != nil {
		f.Since = since.AsTime()
	}
	if until != nil {
		f.Until = until.AsTime()
	}
	return f
}

func summaries(list []hub.Summary) []*ndxpv1.DocumentSummary {
	out := make([]*ndxpv1.DocumentSummary, len(list))
	for i, v := range list {
		out[i] = &ndxpv1.DocumentSummary{Document: documentToProto(v, false), Recipients: tracesToProto(v.Deliveries)}
	}
	return out
}

func (e *exchangeService) ListSent(ctx context.Context, req *ndxpv1.ListSentRequest) (*ndxpv1.ListSentResponse, error) {
	list, next, err := e.hub.ListSent(ctx, principalFrom(ctx), listFilter(req.GetCounterpart(), req.GetStatus(), req.GetSince(), req.GetUntil()),
		int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &ndxpv1.ListSentResponse{Documents: summaries(list), NextPageToken: next}, nil
}

func (e *exchangeService) ListReceived(ctx context.Context, req *ndxpv1.ListReceivedRequest) (*ndxpv1.ListReceivedResponse, error) {
	list, next, err := e.hub.ListReceived(ctx, principalFrom(ctx), listFilter(req.GetCounterpart(), req.GetStatus(), req.GetSince(), req.GetUntil()),
		int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &ndxpv1.ListReceivedResponse{Documents: summaries(list), NextPageToken: next}, nil
}

func businessFromProto(b ndxpv1.BusinessType) hub.BusinessType {
	switch b {
	case ndxpv1.BusinessType_BUSINESS_TYPE_UNSPECIFIED, ndxpv1.BusinessType_BUSINESS_TYPE_NEW:
		return hub.BusinessNew
	case ndxpv1.BusinessType_BUSINESS_TYPE_REVOKE:
		return hub.BusinessRevoke
	case ndxpv1.BusinessType_BUSINESS_TYPE_UPDATE:
		return hub.BusinessUpdate
	case ndxpv1.BusinessType_BUSINESS_TYPE_REPLACE:
		return hub.BusinessReplace
	}
	return hub.BusinessType(100 + int(b))
}

func businessToProto(b hub.BusinessType) ndxpv1.BusinessType {
	switch b {
	case hub.BusinessNew:
		return ndxpv1.BusinessType_BUSINESS_TYPE_NEW
	case hub.BusinessRevoke:
		return ndxpv1.BusinessType_BUSINESS_TYPE_REVOKE
	case hub.BusinessUpdate:
		return ndxpv1.BusinessType_BUSINESS_TYPE_UPDATE
	case hub.BusinessReplace:
		return ndxpv1.BusinessType_BUSINESS_TYPE_REPLACE
	}
	return ndxpv1.BusinessType_BUSINESS_TYPE_UNSPECIFIED
}

func headerFromProto(h *ndxpv1.DocumentHeader) hub.Header {
	out := hub.Header{
		Reference:    h.GetReference(),
		Recipients:   h.GetRecipients(),
		Number:       h.GetNumber(),
		Notation:     h.GetNotation(),
		Type:         h.GetDocumentType(),
		Subject:      h.GetSubject(),
		Content:      h.GetContent(),
		Place:        h.GetPromulgationPlace(),
		Date:         h.GetPromulgationDate(),
		Signer:       hub.Signer{Competence: h.GetSigner().GetCompetence(), Position: h.GetSigner().GetPosition(), FullName: h.GetSigner().GetFullName()},
		Priority:     int(h.GetPriority()),
		DueDate:      h.GetDueDate(),
		SteeringType: int(h.GetSteeringType()),
		ToPlaces:     h.GetToPlaces(),
		ResponseFor:  h.GetResponseFor(),
		Business:     businessFromProto(h.GetBusinessType()),
		Original:     h.GetOriginalDocumentId(),
	}
	for _, a := range h.GetAttachments() {
		out.Attachments = append(out.Attachments, hub.AttachmentInfo{
			Name: a.GetName(), MediaType: a.GetMediaType(), Size: a.GetSize(), SHA256: a.GetSha256(), Description: a.GetDescription(),
		})
	}
	return out
}

func headerToProto(h hub.Header, withContent bool) *ndxpv1.DocumentHeader {
	out := &ndxpv1.DocumentHeader{
		Reference:          h.Reference,
		Recipients:         h.Recipients,
		Number:             h.Number,
		Notation:           h.Notation,
		DocumentType:       h.Type,
		Subject:            h.Subject,
		PromulgationPlace:  h.Place,
		PromulgationDate:   h.Date,
		Priority:           int32(h.Priority),
		DueDate:            h.DueDate,
		SteeringType:       int32(h.SteeringType),
		ToPlaces:           h.ToPlaces,
		ResponseFor:        h.ResponseFor,
		BusinessType:       businessToProto(h.Business),
		OriginalDocumentId: h.Original,
	}
	if withContent {
		out.Content = h.Content
		out.Packet = packetHeaderToProto(h.Packet)
	}
	if s := h.Signer; s != (hub.Signer{}) {
		out.Signer = &ndxpv1.Signer{Competence: s.Competence, Position: s.Position, FullName: s.FullName}
	}
	for _, a := range h.Attachments {
		pa := &ndxpv1.AttachmentInfo{
			Name: a.Name, MediaType: a.MediaType, Size: a.Size, Sha256: a.SHA256, Description: a.Description,
			Packed: packedToProto(a.Packed),
		}
		if withContent {
			pa.Packet = packetAttachmentToProto(a.Packet)
		}
		out.Attachments = append(out.Attachments, pa)
	}
	return out
}

func documentToProto(v hub.DocumentView, withContent bool) *ndxpv1.Document {
	return &ndxpv1.Document{
		Id:         v.Doc.ID,
		SenderCode: v.Doc.Sender,
		SenderName: v.SenderName,
		Header:     headerToProto(v.Doc.Header, withContent),
		CreateTime: timestamppb.New(v.Doc.Created),
		Recalled:   v.Doc.Recalled != nil,
		Packet:     packetInfoToProto(v.Doc.Packet),
	}
}

func statusToProto(r hub.StatusReport) *ndxpv1.StatusReport {
	return &ndxpv1.StatusReport{
		DocumentId:    r.DocID,
		RecipientCode: r.Recipient,
		Code:          string(r.Code),
		Reason:        r.Reason,
		Staff:         r.Staff,
		Time:          timestamppb.New(r.Time),
		Packet:        statusPacketToProto(r.Packet),
	}
}

func tracesToProto(ds []hub.DeliveryView) []*ndxpv1.RecipientTrace {
	out := make([]*ndxpv1.RecipientTrace, 0, len(ds))
	for _, d := range ds {
		t := &ndxpv1.RecipientTrace{
			RecipientCode: d.Recipient,
			RecipientName: d.Name,
			Status:        string(d.Status),
			StatusText:    d.Status.Text(),
			Recall:        string(d.Recall),
		}
		if t.StatusText == "" {
			t.StatusText = "queued"
		}
		if d.Delivered != nil {
			t.DeliverTime = timestamppb.New(*d.Delivered)
		}
		for _, s := range d.Steps {
			t.Steps = append(t.Steps, &ndxpv1.TraceStep{
				Time: timestamppb.New(s.Time), Code: string(s.Code), Description: s.What, Reason: s.Reason, Staff: s.Staff,
			})
		}
		out = append(out, t)
	}
	return out
}

func eventKindToProto(k hub.EventKind) ndxpv1.EventKind {
	switch k {
	case hub.EventArrived:
		return ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED
	case hub.EventStatus:
		return ndxpv1.EventKind_EVENT_KIND_STATUS_CHANGED
	case hub.EventRecalled:
		return ndxpv1.EventKind_EVENT_KIND_DOCUMENT_RECALLED
	case hub.EventUpdated:
		return ndxpv1.EventKind_EVENT_KIND_DOCUMENT_UPDATED
	case hub.EventReplaced:
		return ndxpv1.EventKind_EVENT_KIND_DOCUMENT_REPLACED
	}
	return ndxpv1.EventKind_EVENT_KIND_UNSPECIFIED
}

func eventToProto(p hub.Push) *ndxpv1.Event {
	ev := &ndxpv1.Event{
		Sequence:   p.Event.Seq,
		Kind:       eventKindToProto(p.Event.Kind),
		DocumentId: p.Event.DocID,
		Time:       timestamppb.New(p.Event.Time),
		Reason:     p.Event.Reason,
		Redelivery: p.Redelivery,
	}
	if p.Doc != nil {
		ev.Document = documentToProto(*p.Doc, true)
		for i, b := range p.Inline {
			if b != nil && i < len(ev.Document.Header.Attachments) {
				ev.Document.Header.Attachments[i].Content = b
			}
		}
	}
	if p.Event.Status != nil {
		ev.Status = statusToProto(*p.Event.Status)
	}
	return ev
}
