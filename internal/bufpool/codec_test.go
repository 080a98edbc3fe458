package bufpool

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// echoDesc is a one-method service that returns the bytes it is sent.
var echoDesc = grpc.ServiceDesc{
	ServiceName: "bufpool.test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return in, nil
		},
	}},
}

// TestCodecInterop sends payloads of every size class through a server
// and a client that each use either this codec and pool or gRPC's own, and
// checks every byte comes back: the codec is wire-compatible both ways,
// and buffers reused without clearing never leak stale bytes into a
// message.
func TestCodecInterop(t *testing.T) {
	serve := func(t *testing.T, pooled bool) *bufconn.Listener {
		var opts []grpc.ServerOption
		if pooled {
			p := New()
			opts = append(opts, experimental.BufferPool(p), grpc.ForceServerCodecV2(p.Codec()))
		}
		srv := grpc.NewServer(opts...)
		srv.RegisterService(&echoDesc, nil)
		lis := bufconn.Listen(1 << 20)
		go srv.Serve(lis)
		t.Cleanup(srv.Stop)
		return lis
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, server := range []bool{false, true} {
		for _, client := range []bool{false, true} {
			t.Run(fmt.Sprintf("server-pooled=%v/client-pooled=%v", server, client), func(t *testing.T) {
				lis := serve(t, server)
				opts := []grpc.DialOption{
					grpc.WithTransportCredentials(insecure.NewCredentials()),
					grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
				}
				if client {
					p := New()
					opts = append(opts, experimental.WithBufferPool(p), grpc.WithDefaultCallOptions(grpc.ForceCodecV2(p.Codec())))
				}
				conn, err := grpc.NewClient("passthrough:///bufconn", opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				// Large, then small, then large again: the later messages
				// reuse buffers the earlier ones left full of other bytes.
				for _, n := range []int{3 << 20, 0, 10, 1500, 256<<10 + 20, 64 << 10, 3<<20 - 7, 100} {
					body := make([]byte, n)
					for i := range body {
						body[i] = byte(rng.Uint32())
					}
					resp := new(wrapperspb.BytesValue)
					if err := conn.Invoke(t.Context(), "/bufpool.test.Echo/Echo", wrapperspb.Bytes(body), resp); err != nil {
						t.Fatalf("%d bytes: %v", n, err)
					}
					if got := resp.GetValue(); !bytes.Equal(got, body) {
						t.Fatalf("%d bytes: echoed %d bytes, not the same", n, len(got))
					}
				}
			})
		}
	}
}

func TestCodecRefusesOtherTypes(t *testing.T) {
	c := New().Codec()
	if c.Name() != "proto" {
		t.Errorf("Name() = %q, want proto", c.Name())
	}
	if _, err := c.Marshal("not a message"); err == nil {
		t.Error("Marshal of a string succeeded")
	}
	if err := c.Unmarshal(nil, new(int)); err == nil {
		t.Error("Unmarshal into an int succeeded")
	}
}
