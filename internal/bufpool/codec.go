package bufpool

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// Codec returns gRPC's protobuf codec with its buffers from p. gRPC's own
// codec takes them from the process-wide default pool whatever the server
// or connection was given, so a large message was still marshalled into,
// or gathered from its frames into, a buffer cleared first; replacing the
// default pool would change every gRPC user in the process, which a
// library such as the SDK must not do. The wire format is unchanged: the
// name is "proto", the content-subtype every gRPC peer knows.
func (p *Pool) Codec() encoding.CodecV2 { return codec{pool: p} }

type codec struct{ pool *Pool }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("proto: cannot marshal %T, not a proto.Message", v)
	}
	size := proto.Size(m)
	// UseCachedSize: the Size call above has just cached every size.
	opts := proto.MarshalOptions{UseCachedSize: true}
	if mem.IsBelowBufferPoolingThreshold(size) { // as gRPC's codec: small ones are allocated
		b, err := opts.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	buf := c.pool.Get(size)
	out, err := opts.MarshalAppend((*buf)[:0], m)
	if err == nil && len(out) != size {
		err = fmt.Errorf("proto: %T marshalled to %d bytes, its size was %d (changed while sent?)", v, len(out), size)
	}
	if err != nil {
		c.pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, c.pool)}, nil
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("proto: cannot unmarshal into %T, not a proto.Message", v)
	}
	buf := data.MaterializeToBuffer(c.pool)
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}

func (codec) Name() string { return "proto" }
