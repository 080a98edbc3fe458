package client

import (
	"context"
	"errors"
	"fmt"
	"io"

	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// packetChunk is the size of the pieces a packet is uploaded in.
const packetChunk = 256 << 10

// SendPacket uploads an edXML packet (docs/edxml.md) as it is, and returns
// what the hub did with it. recipients, when given, replace the packet's
// To codes. A document packet's receipt means it is durable; a retry of
// the same packet returns the first receipt (the packet is read again
// from its start, so r must be an io.Seeker for a retry to happen).
func (c *Client) SendPacket(ctx context.Context, r io.Reader, recipients []string) (*ndxpv1.SendPacketResponse, error) {
	seeker, canRetry := r.(io.Seeker)
	attempts := 1
	if canRetry {
		attempts = DefaultAttempts
	}
	return retrying(ctx, attempts, func(attempt int) (*ndxpv1.SendPacketResponse, error) {
		if attempt > 0 {
			if _, err := seeker.Seek(0, io.SeekStart); err != nil {
				return nil, fmt.Errorf("send packet: rewind: %w", err)
			}
		}
		return c.sendPacketOnce(ctx, r, recipients)
	})
}

func (c *Client) sendPacketOnce(ctx context.Context, r io.Reader, recipients []string) (*ndxpv1.SendPacketResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Exchange.SendPacket(ctx)
	if err != nil {
		return nil, err
	}
	first := true
	for {
		buf := make([]byte, packetChunk) // each message keeps its own: gRPC may hold it
		n, rerr := io.ReadFull(r, buf)
		if n > 0 || first {
			msg := &ndxpv1.SendPacketRequest{Data: buf[:n]}
			if first {
				msg.Recipients = recipients
				first = false
			}
			if err := stream.Send(msg); err != nil {
				if errors.Is(err, io.EOF) { // the hub answered early: its status says why
					_, err = stream.CloseAndRecv()
				}
				return nil, err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("send packet: read: %w", rerr)
		}
	}
	return stream.CloseAndRecv()
}

// FetchPacket writes a document as an edXML packet to w: the bytes it
// arrived as (original = true), or a packet the hub renders from a
// document sent natively. It acknowledges nothing.
func (c *Client) FetchPacket(ctx context.Context, documentID string, w io.Writer) (original bool, n int64, err error) {
	return c.fetchPacket(ctx, &ndxpv1.FetchPacketRequest{DocumentId: documentID}, w)
}

// FetchStatusPacket writes recipient's status report code on a document as
// an edXML status packet to w.
func (c *Client) FetchStatusPacket(ctx context.Context, documentID, recipient, code string, w io.Writer) (int64, error) {
	_, n, err := c.fetchPacket(ctx, &ndxpv1.FetchPacketRequest{DocumentId: documentID, RecipientCode: recipient, StatusCode: code}, w)
	return n, err
}

func (c *Client) fetchPacket(ctx context.Context, req *ndxpv1.FetchPacketRequest, w io.Writer) (original bool, n int64, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Exchange.FetchPacket(ctx, req)
	if err != nil {
		return false, 0, err
	}
	first := true
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			return original, n, nil
		}
		if err != nil {
			return original, n, err
		}
		if first {
			original, first = resp.GetOriginal(), false
		}
		m, err := w.Write(resp.GetData())
		n += int64(m)
		if err != nil {
			return original, n, err
		}
	}
}
