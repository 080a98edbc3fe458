package server

import (
	"context"
	"fmt"

	"github.com/ndxp/ndxp/internal/hub"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

var sprintf = fmt.Sprintf

// directoryService implements ndxpv1.DirectoryServiceServer for agencies.
type directoryService struct {
	ndxpv1.UnimplementedDirectoryServiceServer
	hub *hub.Hub
}

func (d *directoryService) entry(a hub.Agency) *ndxpv1.DirectoryEntry {
	return &ndxpv1.DirectoryEntry{
		Code:       a.Code,
		Name:       a.Name,
		ParentCode: a.Parent,
		Stage:      stageToProto(a.Stage),
		Suspended:  a.Suspended,
		Online:     d.hub.Presence(a.Code).Online,
	}
}

func (d *directoryService) LookupAgency(ctx context.Context, req *ndxpv1.LookupAgencyRequest) (*ndxpv1.LookupAgencyResponse, error) {
	a, err := d.hub.GetAgency(ctx, req.GetCode())
	if err != nil {
		return nil, err
	}
	return &ndxpv1.LookupAgencyResponse{Entry: d.entry(a)}, nil
}

func (d *directoryService) SearchAgencies(ctx context.Context, req *ndxpv1.SearchAgenciesRequest) (*ndxpv1.SearchAgenciesResponse, error) {
	list, next, err := d.hub.ListAgencies(ctx, hub.AgencyFilter{Query: req.GetQuery()}, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &ndxpv1.SearchAgenciesResponse{NextPageToken: next, Entries: make([]*ndxpv1.DirectoryEntry, len(list))}
	for i, a := range list {
		resp.Entries[i] = d.entry(a)
	}
	return resp, nil
}
