package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ndxp/ndxp/internal/hub"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// registryService implements ndxpv1.RegistryServiceServer for admins.
type registryService struct {
	ndxpv1.UnimplementedRegistryServiceServer
	hub *hub.Hub
}

func (r *registryService) view(ctx context.Context, a hub.Agency) *ndxpv1.Agency {
	n, _ := r.hub.ActiveCredentials(ctx, a.Code) // informational: the record itself was read fine
	return agencyToProto(a, r.hub.Presence(a.Code), n)
}

func (r *registryService) CreateAgency(ctx context.Context, req *ndxpv1.CreateAgencyRequest) (*ndxpv1.CreateAgencyResponse, error) {
	if req.GetAgency() == nil {
		return nil, invalidField("agency", "is required")
	}
	a, err := r.hub.CreateAgency(ctx, agencyFromProto(req.GetAgency()))
	if err != nil {
		return nil, err
	}
	return &ndxpv1.CreateAgencyResponse{Agency: r.view(ctx, a)}, nil
}

func (r *registryService) ImportAgencies(ctx context.Context, req *ndxpv1.ImportAgenciesRequest) (*ndxpv1.ImportAgenciesResponse, error) {
	n, err := r.hub.ImportAgencies(ctx, agenciesFromProto(req.GetAgencies()))
	if err != nil {
		return nil, err
	}
	return &ndxpv1.ImportAgenciesResponse{Created: int32(n)}, nil
}

func agenciesFromProto(in []*ndxpv1.Agency) []hub.Agency {
	list := make([]hub.Agency, len(in))
	for i, a := range in {
		list[i] = agencyFromProto(a)
	}
	return list
}

// importStream adapts the import stream to hub.AgencySource. Each message
// is within gRPC's receive limit, and the hub stops reading at its import
// limits, so what the stream can make the hub hold is bounded.
type importStream struct {
	stream grpc.ClientStreamingServer[ndxpv1.ImportAgenciesStreamRequest, ndxpv1.ImportAgenciesStreamResponse]
}

func (s importStream) Next() ([]hub.Agency, error) {
	msg, err := s.stream.Recv()
	if err != nil {
		return nil, err // io.EOF after the client's last batch
	}
	return agenciesFromProto(msg.GetAgencies()), nil
}

func (r *registryService) ImportAgenciesStream(stream grpc.ClientStreamingServer[ndxpv1.ImportAgenciesStreamRequest, ndxpv1.ImportAgenciesStreamResponse]) error {
	n, err := r.hub.ImportAgencyStream(stream.Context(), importStream{stream})
	if err != nil {
		return err
	}
	return stream.SendAndClose(&ndxpv1.ImportAgenciesStreamResponse{Created: int32(n)})
}

func (r *registryService) UpdateAgency(ctx context.Context, req *ndxpv1.UpdateAgencyRequest) (*ndxpv1.UpdateAgencyResponse, error) {
	in := req.GetAgency()
	if in == nil {
		return nil, invalidField("agency", "is required")
	}
	var u hub.AgencyUpdate
	for _, p := range req.GetUpdateMask().GetPaths() {
		switch p {
		case "name":
			u.Name = &in.Name
		case "parent_code":
			u.Parent = &in.ParentCode
		case "contact":
			c := contactFromProto(in.GetContact())
			u.Contact = &c
		default:
			return nil, invalidField("update_mask", "cannot change %q (only name, parent_code, contact)", p)
		}
	}
	a, err := r.hub.UpdateAgency(ctx, in.GetCode(), u)
	if err != nil {
		return nil, err
	}
	return &ndxpv1.UpdateAgencyResponse{Agency: r.view(ctx, a)}, nil
}

func (r *registryService) GetAgency(ctx context.Context, req *ndxpv1.GetAgencyRequest) (*ndxpv1.GetAgencyResponse, error) {
	a, err := r.hub.GetAgency(ctx, req.GetCode())
	if err != nil {
		return nil, err
	}
	return &ndxpv1.GetAgencyResponse{Agency: r.view(ctx, a)}, nil
}

func (r *registryService) ListAgencies(ctx context.Context, req *ndxpv1.ListAgenciesRequest) (*ndxpv1.ListAgenciesResponse, error) {
	f := hub.AgencyFilter{
		Stage:      stageFromProto(req.GetStage()),
		Parent:     req.GetParentCode(),
		Query:      req.GetQuery(),
		OnlineOnly: req.GetOnlineOnly(),
	}
	switch req.GetSuspension() {
	case ndxpv1.SuspensionFilter_SUSPENSION_FILTER_ACTIVE:
		f.Suspended = new(bool)
	case ndxpv1.SuspensionFilter_SUSPENSION_FILTER_SUSPENDED:
		t := true
		f.Suspended = &t
	}
	list, next, err := r.hub.ListAgencies(ctx, f, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &ndxpv1.ListAgenciesResponse{NextPageToken: next, Agencies: make([]*ndxpv1.Agency, len(list))}
	codes := make([]string, len(list))
	for i, a := range list {
		codes[i] = a.Code
	}
	creds, _ := r.hub.ActiveCredentialCounts(ctx, codes) // informational, as in view
	for i, a := range list {
		resp.Agencies[i] = agencyToProto(a, r.hub.Presence(a.Code), creds[a.Code])
	}
	return resp, nil
}

func (r *registryService) SetStage(ctx context.Context, req *ndxpv1.SetStageRequest) (*ndxpv1.SetStageResponse, error) {
	if req.GetStage() == ndxpv1.Stage_STAGE_UNSPECIFIED {
		return nil, invalidField("stage", "is required (pending, pilot or production)")
	}
	a, err := r.hub.SetStage(ctx, req.GetCode(), stageFromProto(req.GetStage()))
	if err != nil {
		return nil, err
	}
	return &ndxpv1.SetStageResponse{Agency: r.view(ctx, a)}, nil
}

func (r *registryService) SuspendAgency(ctx context.Context, req *ndxpv1.SuspendAgencyRequest) (*ndxpv1.SuspendAgencyResponse, error) {
	a, err := r.hub.SetSuspended(ctx, req.GetCode(), true, req.GetReason())
	if err != nil {
		return nil, err
	}
	return &ndxpv1.SuspendAgencyResponse{Agency: r.view(ctx, a)}, nil
}

func (r *registryService) ResumeAgency(ctx context.Context, req *ndxpv1.ResumeAgencyRequest) (*ndxpv1.ResumeAgencyResponse, error) {
	a, err := r.hub.SetSuspended(ctx, req.GetCode(), false, "")
	if err != nil {
		return nil, err
	}
	return &ndxpv1.ResumeAgencyResponse{Agency: r.view(ctx, a)}, nil
}

func (r *registryService) IssueCredential(ctx context.Context, req *ndxpv1.IssueCredentialRequest) (*ndxpv1.IssueCredentialResponse, error) {
	c, err := r.hub.IssueCredential(ctx, req.GetCode(), req.GetCsr(), int(req.GetValidDays()))
	if err != nil {
		return nil, err
	}
	return &ndxpv1.IssueCredentialResponse{
		CertificatePem: c.CertPEM,
		CaPem:          c.CAPEM,
		HubAddress:     c.HubAddress,
		CredentialId:   c.Serial,
		ExpireTime:     timestamppb.New(c.Expires),
	}, nil
}

func (r *registryService) RevokeCredential(ctx context.Context, req *ndxpv1.RevokeCredentialRequest) (*ndxpv1.RevokeCredentialResponse, error) {
	n, err := r.hub.RevokeCredential(ctx, req.GetCode(), req.GetCredentialId())
	if err != nil {
		return nil, err
	}
	return &ndxpv1.RevokeCredentialResponse{Revoked: int32(n)}, nil
}

func (r *registryService) GetOverview(ctx context.Context, _ *ndxpv1.GetOverviewRequest) (*ndxpv1.GetOverviewResponse, error) {
	return &ndxpv1.GetOverviewResponse{Overview: overviewToProto(r.hub.Overview())}, nil
}

func (r *registryService) AddAlias(ctx context.Context, req *ndxpv1.AddAliasRequest) (*ndxpv1.AddAliasResponse, error) {
	al, err := r.hub.AddAlias(ctx, principalFrom(ctx), req.GetAlias(), req.GetCode())
	if err != nil {
		return nil, err
	}
	return &ndxpv1.AddAliasResponse{Alias: aliasToProto(al)}, nil
}

func (r *registryService) ListAliases(ctx context.Context, _ *ndxpv1.ListAliasesRequest) (*ndxpv1.ListAliasesResponse, error) {
	list, err := r.hub.ListAliases(ctx, principalFrom(ctx))
	if err != nil {
		return nil, err
	}
	resp := &ndxpv1.ListAliasesResponse{Aliases: make([]*ndxpv1.Alias, len(list))}
	for i, al := range list {
		resp.Aliases[i] = aliasToProto(al)
	}
	return resp, nil
}

func (r *registryService) RemoveAlias(ctx context.Context, req *ndxpv1.RemoveAliasRequest) (*ndxpv1.RemoveAliasResponse, error) {
	if err := r.hub.RemoveAlias(ctx, principalFrom(ctx), req.GetAlias()); err != nil {
		return nil, err
	}
	return &ndxpv1.RemoveAliasResponse{}, nil
}

func (r *registryService) AddVxpSystem(ctx context.Context, req *ndxpv1.AddVxpSystemRequest) (*ndxpv1.AddVxpSystemResponse, error) {
	sys, secret, err := r.hub.AddVxpSystem(ctx, principalFrom(ctx), req.GetSystemId(), req.GetAgencies(), req.GetAllowRegistry())
	if err != nil {
		return nil, err
	}
	return &ndxpv1.AddVxpSystemResponse{System: vxpSystemToProto(sys), Secret: secret}, nil
}

func (r *registryService) ListVxpSystems(ctx context.Context, _ *ndxpv1.ListVxpSystemsRequest) (*ndxpv1.ListVxpSystemsResponse, error) {
	list, err := r.hub.ListVxpSystems(ctx, principalFrom(ctx))
	if err != nil {
		return nil, err
	}
	resp := &ndxpv1.ListVxpSystemsResponse{Systems: make([]*ndxpv1.VxpSystem, len(list))}
	for i, sys := range list {
		resp.Systems[i] = vxpSystemToProto(sys)
	}
	return resp, nil
}

func (r *registryService) RotateVxpSecret(ctx context.Context, req *ndxpv1.RotateVxpSecretRequest) (*ndxpv1.RotateVxpSecretResponse, error) {
	sys, secret, err := r.hub.RotateVxpSecret(ctx, principalFrom(ctx), req.GetSystemId())
	if err != nil {
		return nil, err
	}
	return &ndxpv1.RotateVxpSecretResponse{System: vxpSystemToProto(sys), Secret: secret}, nil
}

func (r *registryService) RemoveVxpSystem(ctx context.Context, req *ndxpv1.RemoveVxpSystemRequest) (*ndxpv1.RemoveVxpSystemResponse, error) {
	if err := r.hub.RemoveVxpSystem(ctx, principalFrom(ctx), req.GetSystemId()); err != nil {
		return nil, err
	}
	return &ndxpv1.RemoveVxpSystemResponse{}, nil
}

func vxpSystemToProto(sys hub.VxpSystem) *ndxpv1.VxpSystem {
	v := &ndxpv1.VxpSystem{
		SystemId: sys.ID, Agencies: sys.Agencies, AllowRegistry: sys.AllowRegistry,
		CreateTime: timestamppb.New(sys.Created), CreatedBy: sys.CreatedBy,
	}
	if !sys.Rotated.IsZero() {
		v.RotateTime = timestamppb.New(sys.Rotated)
	}
	return v
}

func aliasToProto(al hub.Alias) *ndxpv1.Alias {
	return &ndxpv1.Alias{Alias: al.Alias, Code: al.Code, AgencyName: al.AgencyName, CreateTime: timestamppb.New(al.Created)}
}

func overviewToProto(o hub.Overview) *ndxpv1.Overview {
	return &ndxpv1.Overview{
		Total:      int32(o.Total),
		Pending:    int32(o.Pending),
		Pilot:      int32(o.Pilot),
		Production: int32(o.Production),
		Suspended:  int32(o.Suspended),
		Online:     int32(o.Online),
		Time:       timestamppb.Now(),
	}
}

// invalidField reports a malformed request field the same way the hub does.
func invalidField(field, format string, args ...any) error {
	return &hub.Error{Kind: hub.ErrInvalid, Field: field, Msg: sprintf(format, args...)}
}
