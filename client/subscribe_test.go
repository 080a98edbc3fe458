package client_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

const (
	codeVPCP   = "000.00.00.G22"
	codeNgheAn = "000.00.00.H41"
)

// subscriber runs a subscription of agency c in the background and
// reports its connection changes and events.
type subscriber struct {
	states chan error  // nil: connected
	events chan string // document ids
	done   chan error  // what Subscribe returned
}

func subscribe(t *testing.T, c *client.Client, opts ...client.SubscribeOption) *subscriber {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscriber{states: make(chan error, 256), events: make(chan string, 16), done: make(chan error, 1)}
	opts = append(opts, client.OnConnection(func(connected bool, err error) {
		if connected {
			err = nil
		}
		s.states <- err
	}))
	go func() {
		s.done <- c.Subscribe(ctx, func(_ context.Context, ev *ndxpv1.Event) error {
			s.events <- ev.GetDocumentId()
			return nil
		}, opts...)
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

// next waits for the next connection change.
func (s *subscriber) next(t *testing.T, what string) error {
	t.Helper()
	select {
	case err := <-s.states:
		return err
	case err := <-s.done:
		s.done <- err // for the cleanup
		t.Fatalf("Subscribe returned %v, waiting for %s", err, what)
	case <-time.After(20 * time.Second):
		t.Fatalf("no connection change in 20 s, waiting for %s", what)
	}
	return nil
}

// TestSubscribeWaitsOutSuspension suspends an agency while it is
// subscribed with WaitSuspended: Subscribe keeps trying, picks up where
// the queue stands once the agency is resumed, and ends on revocation.
func TestSubscribeWaitsOutSuspension(t *testing.T) {
	h := hubtest.Start(t)
	admin := h.Admin()
	ctx := context.Background()
	vpcp := h.Agency(codeVPCP, "Văn phòng Chính phủ")
	ngheAn := h.Agency(codeNgheAn, "UBND tỉnh Nghệ An")

	s := subscribe(t, ngheAn, client.WaitSuspended(500*time.Millisecond))
	if err := s.next(t, "the first connection"); err != nil {
		t.Fatalf("first connection change: %v; want connected", err)
	}
	if _, err := admin.Registry.SuspendAgency(ctx, &ndxpv1.SuspendAgencyRequest{Code: codeNgheAn}); err != nil {
		t.Fatal(err)
	}
	// The held stream ends, and at least two more attempts are refused.
	for i := range 3 {
		if err := s.next(t, "a refusal"); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("change %d after the suspension: %v; want PermissionDenied", i, err)
		}
	}
	if _, err := admin.Registry.ResumeAgency(ctx, &ndxpv1.ResumeAgencyRequest{Code: codeNgheAn}); err != nil {
		t.Fatal(err)
	}
	for {
		err := s.next(t, "the connection after the resumption")
		if err == nil {
			break
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("after the resumption: %v; want connected", err)
		}
	}
	resp, err := vpcp.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{codeNgheAn}, Subject: "Sau khi đình chỉ được gỡ bỏ"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-s.events:
		if id != resp.GetDocumentId() {
			t.Errorf("event for %s; want %s", id, resp.GetDocumentId())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no event after the resumption")
	}

	if _, err := admin.Registry.RevokeCredential(ctx, &ndxpv1.RevokeCredentialRequest{Code: codeNgheAn}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("Subscribe after the revocation returned %v; want Unauthenticated", err)
		}
		s.done <- err // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatal("Subscribe goes on after the revocation")
	}
}

// TestSubscribeEndsOnSuspension checks the default: without
// WaitSuspended a suspension ends Subscribe.
func TestSubscribeEndsOnSuspension(t *testing.T) {
	h := hubtest.Start(t)
	ngheAn := h.Agency(codeNgheAn, "UBND tỉnh Nghệ An")
	s := subscribe(t, ngheAn)
	if err := s.next(t, "the first connection"); err != nil {
		t.Fatalf("first connection change: %v; want connected", err)
	}
	if _, err := h.Admin().Registry.SuspendAgency(context.Background(), &ndxpv1.SuspendAgencyRequest{Code: codeNgheAn}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("Subscribe after the suspension returned %v; want PermissionDenied", err)
		}
		s.done <- err
	case <-time.After(20 * time.Second):
		t.Fatal("Subscribe goes on after the suspension")
	}
}
