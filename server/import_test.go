package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/ndxp/ndxp/internal/hub"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// streamImport sends batches over one ImportAgenciesStream and returns
// the answer and how many batches the hub took before it ended the stream.
func streamImport(ctx context.Context, reg ndxpv1.RegistryServiceClient, batches [][]*ndxpv1.Agency) (*ndxpv1.ImportAgenciesStreamResponse, int, error) {
	return streamImportFrom(ctx, reg, len(batches), func(i int) []*ndxpv1.Agency { return batches[i] })
}

// streamImportFrom is streamImport with the n batches made as they are sent.
func streamImportFrom(ctx context.Context, reg ndxpv1.RegistryServiceClient, n int, batch func(int) []*ndxpv1.Agency) (*ndxpv1.ImportAgenciesStreamResponse, int, error) {
	stream, err := reg.ImportAgenciesStream(ctx)
	if err != nil {
		return nil, 0, err
	}
	sent := 0
	for i := range n {
		if err := stream.Send(&ndxpv1.ImportAgenciesStreamRequest{Agencies: batch(i)}); errors.Is(err, io.EOF) {
			break // the hub has answered
		} else if err != nil {
			return nil, sent, err
		}
		sent++
	}
	resp, err := stream.CloseAndRecv()
	return resp, sent, err
}

// numbered returns n agencies under 000.00.00.H41 from the i-th code on.
func numbered(from, n int) []*ndxpv1.Agency {
	out := make([]*ndxpv1.Agency, n)
	for i := range out {
		k := from + i
		out[i] = &ndxpv1.Agency{Code: fmt.Sprintf("%03d.%02d.%02d.H41", 1+k%999, k/999%100, k/99900%100), Name: "x"}
	}
	return out
}

func TestImportAgenciesStream(t *testing.T) {
	h := hubtest.Start(t)
	reg := h.Admin().Registry
	h.AddAgency("000.00.00.H47", "UBND tỉnh Quảng Nam", pilot)
	h.AddAgency("009.00.00.H47", "Sở Công Thương tỉnh Quảng Nam", pilot)
	before, _ := listAll(t, reg, &ndxpv1.ListAgenciesRequest{})

	// The agencies of importBatch in three messages; agencies[3] is the
	// first of the last message.
	split := func(list []*ndxpv1.Agency) [][]*ndxpv1.Agency {
		return [][]*ndxpv1.Agency{list[:2], {}, list[2:3], list[3:]}
	}
	tests := []struct {
		name      string
		bad       func(*ndxpv1.Agency)
		wantCode  codes.Code
		wantField string
	}{
		{"malformed code", func(a *ndxpv1.Agency) { a.Code = "000.00.00.X1" }, codes.InvalidArgument, "agencies[3].code"},
		{"unknown parent", func(a *ndxpv1.Agency) { a.ParentCode = "000.00.00.H99" }, codes.NotFound, "agencies[3].parent_code"},
		{"already registered", func(a *ndxpv1.Agency) { a.Code = "009.00.00.H47" }, codes.AlreadyExists, "agencies[3].code"},
		{"twice in the import", func(a *ndxpv1.Agency) { a.Code = "001.00.00.H47" }, codes.AlreadyExists, "agencies[3].code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := importBatch()
			tt.bad(list[3])
			_, _, err := streamImport(testCtx(t), reg, split(list))
			checkStatus(t, "ImportAgenciesStream", err, tt.wantCode, tt.wantField)
			if fields := violations(err); len(fields) != 1 || fields[0] != tt.wantField {
				t.Errorf("BadRequest fields = %q, want [%q]", fields, tt.wantField)
			}
			after, _ := listAll(t, reg, &ndxpv1.ListAgenciesRequest{})
			if len(after) != len(before) {
				t.Errorf("a refused import changed the registry: %d agencies, want %d", len(after), len(before))
			}
		})
	}

	_, _, err := streamImport(testCtx(t), reg, nil)
	checkStatus(t, "an empty ImportAgenciesStream", err, codes.InvalidArgument, "nothing to import")

	resp, sent, err := streamImport(testCtx(t), reg, split(importBatch()))
	if err != nil {
		t.Fatalf("good ImportAgenciesStream: %v", err)
	}
	if resp.GetCreated() != 5 || sent != 4 {
		t.Errorf("created = %d from %d messages, want 5 from 4", resp.GetCreated(), sent)
	}
	all, _ := listAll(t, reg, &ndxpv1.ListAgenciesRequest{ParentCode: "000.00.00.H47"})
	if got := codesOf(all); len(got) != 6 {
		t.Errorf("children of 000.00.00.H47 after the import: %q, want 6", got)
	}
}

// TestImportAgenciesStreamEndsEarly: the hub ends a stream as soon as it
// refuses it, so a client that goes on sending gets io.EOF from Send and
// the reason from CloseAndRecv; what the hub holds meanwhile is bounded.
func TestImportAgenciesStreamEndsEarly(t *testing.T) {
	h := hubtest.Start(t)
	reg := h.Admin().Registry

	t.Run("a bad agency in the first batch", func(t *testing.T) {
		batches := [][]*ndxpv1.Agency{{{Code: "000.00.00.X1", Name: "Hỏng"}}}
		for i := range 200 {
			batches = append(batches, numbered(i*1000, 1000))
		}
		_, sent, err := streamImport(testCtx(t), reg, batches)
		checkStatus(t, "ImportAgenciesStream", err, codes.InvalidArgument, "agencies[0].code")
		if sent == len(batches) {
			t.Errorf("all %d batches were taken after the first was refused", sent)
		}
		t.Logf("%d of %d batches sent before the hub ended the stream", sent, len(batches))
	})

	t.Run("more than MaxImport agencies", func(t *testing.T) {
		const per, total = 20_000, 2 * hub.MaxImport / 20_000
		if n := proto.Size(&ndxpv1.ImportAgenciesStreamRequest{Agencies: numbered(0, per)}); n >= 4<<20 {
			t.Fatalf("a batch is %d bytes, over gRPC's limit", n)
		}
		_, sent, err := streamImportFrom(testCtx(t), reg, total, func(i int) []*ndxpv1.Agency { return numbered(i*per, per) })
		checkStatus(t, "ImportAgenciesStream", err, codes.InvalidArgument, "more than 200000 agencies")
		if limit := hub.MaxImport/per + 1; sent < limit || sent >= total {
			t.Errorf("%d batches sent before the hub ended the stream, want from %d (the one past the limit) to fewer than all %d", sent, limit, total)
		}
		t.Logf("%d of %d batches sent before the hub ended the stream", sent, total)
	})

	if o := h.Daemon.Hub().Overview(); o.Total != 0 {
		t.Errorf("%d agencies registered after refused imports, want 0", o.Total)
	}
}

// TestImportAgenciesStreamWhileRegistering: an import held open (a slow
// client) does not hold the registry: other changes go on meanwhile.
func TestImportAgenciesStreamWhileRegistering(t *testing.T) {
	h := hubtest.Start(t)
	reg := h.Admin().Registry
	stream, err := reg.ImportAgenciesStream(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&ndxpv1.ImportAgenciesStreamRequest{Agencies: numbered(0, 10)}); err != nil {
		t.Fatal(err)
	}
	h.AddAgency("000.00.00.H41", "UBND tỉnh Nghệ An", pilot) // fails the test if it waits for the import
	if err := stream.Send(&ndxpv1.ImportAgenciesStreamRequest{Agencies: numbered(10, 10)}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil || resp.GetCreated() != 20 {
		t.Fatalf("ImportAgenciesStream = %v, %v; want 20 created", resp, err)
	}
	a, err := reg.GetAgency(testCtx(t), &ndxpv1.GetAgencyRequest{Code: "001.00.00.H41"})
	if err != nil || a.GetAgency().GetParentCode() != "000.00.00.H41" {
		t.Errorf("001.00.00.H41 = %v, %v; want it under the province registered during the import", a, err)
	}
	if o := h.Daemon.Hub().Overview(); o.Total != 21 {
		t.Errorf("%d agencies registered, want 21", o.Total)
	}
}
