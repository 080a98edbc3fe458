package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/hubtest"
	"github.com/ndxp/ndxp/internal/pki"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// caller is a column of the authorization matrix: who makes the call.
type caller int

const (
	asAdmin         caller = iota // the hub's admin credential
	asSender                      // the agency that sent the test documents
	asRecipient                   // an agency they are addressed to, which acknowledged them
	asOutsider                    // a registered agency with no part in them
	asSuspended                   // a recipient, suspended after the send
	asRevokedSerial               // a recipient whose credential was revoked by serial (ndxpctl credential revoke --id)
	asRevokedCode                 // a recipient whose credentials were all revoked by its code
	asRevokedAdmin                // a second admin, revoked by serial
	asOtherCA                     // an admin identity in a certificate from another CA
	asNoCert                      // TLS without a client certificate
	asNode                        // a cluster node's certificate from the hub's CA
	numCallers
)

var callerNames = [numCallers]string{
	"admin", "sender", "recipient", "outsider", "suspended",
	"revoked-by-serial", "revoked-by-code", "revoked-admin", "other-CA", "no-certificate", "node",
}

func (c caller) String() string { return callerNames[c] }

// Agencies of the matrix besides codeG22 (sender), codeH41 (recipient)
// and codeH47 (outsider).
const (
	codeSuspended     = "000.00.00.H48"
	codeRevokedSerial = "000.00.00.H49"
	codeRevokedCode   = "000.00.00.H50"
	codeTarget        = "000.00.00.H51" // where the matrix's own sends go
	codeSpare         = "000.00.00.H52" // what the registry calls change
	codeCreated       = "000.00.00.H53" // CreateAgency makes it
	codeImported      = "000.00.00.H54" // ImportAgencies makes it
	codeStreamed      = "000.00.00.H55" // ImportAgenciesStream makes it
)

// Aliases of codeSpare: AddAlias adds the first, RemoveAlias removes the
// second (added by setUpAuthz), so neither row depends on the other's order.
const (
	aliasAdded   = "28.22.H17"
	aliasRemoved = "vxp.saas.03"
)

// VXP systems serving codeSpare: AddVxpSystem adds the first,
// RotateVxpSecret and RemoveVxpSystem act on the others (added by
// setUpAuthz), so no row depends on another's order.
const (
	vxpAdded   = "sys.added"
	vxpRotated = "sys.rotated"
	vxpRemoved = "sys.removed"
)

// authzFixture is what the rows' requests refer to.
type authzFixture struct {
	doc    string // sent by codeG22 to every agency column but the outsider, with an attachment
	recall string // another such document, which RecallDocument recalls
	csr    []byte // for IssueCredential of codeSpare
}

// authzRow is a row of the matrix: a method, a request that is valid for
// whoever may make it, and the code each caller must get.
type authzRow struct {
	method string
	req    func(f *authzFixture) proto.Message // nil: the empty request
	want   [numCallers]codes.Code
}

// row gives the codes of the callers with a valid credential (admin,
// sender, recipient, outsider); the seven others are refused by the
// interceptor before any handler runs, so they get the same codes for
// every method and are filled in here:
//   - a suspended agency: PermissionDenied (naming the suspension);
//   - a revoked credential, by serial or by code, agency or admin:
//     Unauthenticated;
//   - a certificate from another CA, or none: the TLS handshake fails (the
//     hub requires and verifies a client certificate), which the client
//     sees as Unavailable: with TLS 1.3 its side of the handshake is done
//     when the hub's alert arrives, so the call fails as on a dropped
//     connection;
//   - a node certificate (valid, from the hub's CA): Unauthenticated, for
//     it serves the cluster port alone.
func row(admin, sender, recipient, outsider codes.Code) [numCallers]codes.Code {
	return [numCallers]codes.Code{
		asAdmin: admin, asSender: sender, asRecipient: recipient, asOutsider: outsider,
		asSuspended:     codes.PermissionDenied,
		asRevokedSerial: codes.Unauthenticated, asRevokedCode: codes.Unauthenticated, asRevokedAdmin: codes.Unauthenticated,
		asOtherCA: codes.Unavailable, asNoCert: codes.Unavailable,
		asNode: codes.Unauthenticated,
	}
}

// refusalWord is what the refusal of a suspended or revoked caller must
// say, so that it is refused for that reason and not another.
var refusalWord = [numCallers]string{
	asSuspended: "suspended", asRevokedSerial: "revoked", asRevokedCode: "revoked", asRevokedAdmin: "revoked",
	asNode: "a node certificate is for the cluster port",
}

// Cell values for the callers with a valid credential.
const (
	allow  = codes.OK
	deny   = codes.PermissionDenied
	hidden = codes.NotFound // another agency's document: as if it did not exist
)

// authzRows is the matrix. Every request is valid for the callers allowed
// to make it, so an allowed cell is exactly OK and a refusal is exactly
// its code: a request that a later change makes invalid must be mended
// here, not the cell loosened. Streams count their first response (or,
// for an upload, its only one) as the call's outcome.
var authzRows = []authzRow{
	// RegistryService: admins only.
	{"/ndxp.v1.RegistryService/CreateAgency", func(*authzFixture) proto.Message {
		return &ndxpv1.CreateAgencyRequest{Agency: &ndxpv1.Agency{Code: codeCreated, Name: "UBND tỉnh Tạo mới"}}
	}, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/ImportAgencies", func(*authzFixture) proto.Message {
		return &ndxpv1.ImportAgenciesRequest{Agencies: []*ndxpv1.Agency{{Code: codeImported, Name: "UBND tỉnh Nhập"}}}
	}, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/ImportAgenciesStream", func(*authzFixture) proto.Message {
		return &ndxpv1.ImportAgenciesStreamRequest{Agencies: []*ndxpv1.Agency{{Code: codeStreamed, Name: "UBND tỉnh Nhập luồng"}}}
	}, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/UpdateAgency", func(*authzFixture) proto.Message {
		return &ndxpv1.UpdateAgencyRequest{Agency: &ndxpv1.Agency{Code: codeSpare, Name: "UBND tỉnh Đổi tên"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}}}
	}, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/GetAgency", func(*authzFixture) proto.Message {
		return &ndxpv1.GetAgencyRequest{Code: codeSpare}
	}, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/ListAgencies", nil, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/SetStage", func(*authzFixture) proto.Message {
		return &ndxpv1.SetStageRequest{Code: codeSpare, Stage: pilot}
	}, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/SuspendAgency", func(*authzFixture) proto.Message {
		return &ndxpv1.SuspendAgencyRequest{Code: codeSpare, Reason: "kiểm tra quyền"}
	}, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/ResumeAgency", func(*authzFixture) proto.Message {
		return &ndxpv1.ResumeAgencyRequest{Code: codeSpare}
	}, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/IssueCredential", func(f *authzFixture) proto.Message {
		return &ndxpv1.IssueCredentialRequest{Code: codeSpare, Csr: f.csr}
	}, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/RevokeCredential", func(*authzFixture) proto.Message {
		return &ndxpv1.RevokeCredentialRequest{Code: codeSpare}
	}, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/GetOverview", nil, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/AddAlias", func(*authzFixture) proto.Message {
		return &ndxpv1.AddAliasRequest{Alias: aliasAdded, Code: codeSpare}
	}, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/ListAliases", nil, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/RemoveAlias", func(*authzFixture) proto.Message {
		return &ndxpv1.RemoveAliasRequest{Alias: aliasRemoved}
	}, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/AddVxpSystem", func(*authzFixture) proto.Message {
		return &ndxpv1.AddVxpSystemRequest{SystemId: vxpAdded, Agencies: []string{codeSpare}}
	}, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/ListVxpSystems", nil, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/RotateVxpSecret", func(*authzFixture) proto.Message {
		return &ndxpv1.RotateVxpSecretRequest{SystemId: vxpRotated}
	}, row(allow, deny, deny, deny)},
	{"/ndxp.v1.RegistryService/RemoveVxpSystem", func(*authzFixture) proto.Message {
		return &ndxpv1.RemoveVxpSystemRequest{SystemId: vxpRemoved}
	}, row(allow, deny, deny, deny)},

	// DirectoryService: every valid credential.
	{"/ndxp.v1.DirectoryService/LookupAgency", func(*authzFixture) proto.Message {
		return &ndxpv1.LookupAgencyRequest{Code: codeG22}
	}, row(allow, allow, allow, allow)},
	{"/ndxp.v1.DirectoryService/SearchAgencies", func(*authzFixture) proto.Message {
		return &ndxpv1.SearchAgenciesRequest{Query: "UBND"}
	}, row(allow, allow, allow, allow)},

	// ExchangeService: agencies act on their own queues and lists; a
	// document is seen by its sender, its recipients and admins; the
	// sender alone recalls, recipients alone report.
	{"/ndxp.v1.ExchangeService/SendDocument", func(*authzFixture) proto.Message {
		return &ndxpv1.SendDocumentRequest{Part: &ndxpv1.SendDocumentRequest_Header{Header: &ndxpv1.DocumentHeader{
			Recipients: []string{codeTarget}, Subject: "Kiểm tra quyền gửi", Number: "1/KTQ",
		}}}
	}, row(deny, allow, allow, allow)},
	{"/ndxp.v1.ExchangeService/SendDocuments", func(*authzFixture) proto.Message {
		return &ndxpv1.SendDocumentsRequest{Part: &ndxpv1.SendDocumentsRequest_Header{Header: &ndxpv1.DocumentHeader{
			Recipients: []string{codeTarget}, Subject: "Kiểm tra quyền gửi nhiều", Number: "4/KTQ",
		}}}
	}, row(deny, allow, allow, allow)},
	{"/ndxp.v1.ExchangeService/Subscribe", nil, row(deny, allow, allow, allow)},
	{"/ndxp.v1.ExchangeService/Receive", func(*authzFixture) proto.Message {
		return &ndxpv1.ReceiveRequest{Message: &ndxpv1.ReceiveRequest_Open{Open: &ndxpv1.SubscribeRequest{}}}
	}, row(deny, allow, allow, allow)},
	{"/ndxp.v1.ExchangeService/AcknowledgeEvents", func(*authzFixture) proto.Message {
		return &ndxpv1.AcknowledgeEventsRequest{Sequences: []uint64{1 << 62}}
	}, row(deny, allow, allow, allow)},
	{"/ndxp.v1.ExchangeService/FetchAttachment", func(f *authzFixture) proto.Message {
		return &ndxpv1.FetchAttachmentRequest{DocumentId: f.doc}
	}, row(allow, allow, allow, hidden)},
	{"/ndxp.v1.ExchangeService/GetDocument", func(f *authzFixture) proto.Message {
		return &ndxpv1.GetDocumentRequest{DocumentId: f.doc}
	}, row(allow, allow, allow, hidden)},
	{"/ndxp.v1.ExchangeService/ReportStatus", func(f *authzFixture) proto.Message {
		return &ndxpv1.ReportStatusRequest{DocumentId: f.doc, Code: "03"}
	}, row(deny, deny, allow, hidden)},
	{"/ndxp.v1.ExchangeService/RecallDocument", func(f *authzFixture) proto.Message {
		return &ndxpv1.RecallDocumentRequest{DocumentId: f.recall, Reason: "kiểm tra quyền"}
	}, row(deny, allow, deny, hidden)},
	{"/ndxp.v1.ExchangeService/GetTrace", func(f *authzFixture) proto.Message {
		return &ndxpv1.GetTraceRequest{DocumentId: f.doc}
	}, row(allow, allow, allow, hidden)},
	{"/ndxp.v1.ExchangeService/SendPacket", func(*authzFixture) proto.Message {
		// From is the sender's: any other agency is refused for sending
		// as another, naming both codes.
		return &ndxpv1.SendPacketRequest{Data: []byte(hubtest.Packet(codeG22, codeTarget, "Kiểm tra quyền gửi gói tin", "3/KTQ"))}
	}, row(deny, allow, deny, deny)},
	{"/ndxp.v1.ExchangeService/FetchPacket", func(f *authzFixture) proto.Message {
		return &ndxpv1.FetchPacketRequest{DocumentId: f.doc}
	}, row(allow, allow, allow, hidden)},
	{"/ndxp.v1.ExchangeService/ListSent", nil, row(deny, allow, allow, allow)},
	{"/ndxp.v1.ExchangeService/ListReceived", nil, row(deny, allow, allow, allow)},

	// MonitorService and MaintenanceService: admins only.
	{"/ndxp.v1.MonitorService/GetSnapshot", nil, row(allow, deny, deny, deny)},
	{"/ndxp.v1.MonitorService/WatchSnapshot", nil, row(allow, deny, deny, deny)},
	{"/ndxp.v1.MaintenanceService/Backup", nil, row(allow, deny, deny, deny)},
	{"/ndxp.v1.MaintenanceService/CheckStore", nil, row(allow, deny, deny, deny)},
	{"/ndxp.v1.MaintenanceService/Purge", func(*authzFixture) proto.Message {
		return &ndxpv1.PurgeRequest{OlderThanDays: 1, DryRun: true}
	}, row(allow, deny, deny, deny)},

	// ClusterService: admins only. The matrix's hub runs a fake leader
	// node (a single-node hub answers FAILED_PRECONDITION to everyone
	// allowed, which would hide a wrong allowance).
	{"/ndxp.v1.ClusterService/GetClusterStatus", nil, row(allow, deny, deny, deny)},
	{"/ndxp.v1.ClusterService/AddClusterNode", func(*authzFixture) proto.Message {
		return &ndxpv1.AddClusterNodeRequest{Id: "n4", Raft: "10.0.0.4:7502", Grpc: "10.0.0.4:7500"}
	}, row(allow, deny, deny, deny)},
	{"/ndxp.v1.ClusterService/RemoveClusterNode", func(*authzFixture) proto.Message {
		return &ndxpv1.RemoveClusterNodeRequest{Id: "n3"}
	}, row(allow, deny, deny, deny)},

	// Health and reflection: any valid credential, and no revoked or
	// suspended one.
	{"/grpc.health.v1.Health/Check", nil, row(allow, allow, allow, allow)},
	{"/grpc.health.v1.Health/List", nil, row(allow, allow, allow, allow)},
	{"/grpc.health.v1.Health/Watch", nil, row(allow, allow, allow, allow)},
	{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", func(*authzFixture) proto.Message {
		return &reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}}
	}, row(allow, allow, allow, allow)},
	{"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", func(*authzFixture) proto.Message {
		//lint:ignore SA1019 the hub still serves v1alpha for older grpcurl versions, so it is in the matrix
		return &reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_ListServices{}}
	}, row(allow, allow, allow, allow)},
}

// TestAuthzMatrix calls every method the hub serves, as found in its
// gRPC server at run time, as each kind of caller, and checks the code
// each gets against authzRows; a method without a row fails the test.
// Health is covered here for revoked and suspended callers too.
func TestAuthzMatrix(t *testing.T) {
	h := hubtest.Start(t)
	h.Daemon.SetClusterNode(fakeLeader())
	f, conns := setUpAuthz(t, h)

	rows := map[string]authzRow{}
	for _, r := range authzRows {
		if _, dup := rows[r.method]; dup {
			t.Errorf("two rows for %s", r.method)
		}
		rows[r.method] = r
	}
	served := map[string]grpc.MethodInfo{}
	for svc, info := range h.Daemon.ServiceInfo() {
		for _, m := range info.Methods {
			served["/"+svc+"/"+m.Name] = m
		}
	}
	for _, r := range authzRows {
		if _, ok := served[r.method]; !ok {
			t.Errorf("row %s names no method the hub serves: remove it", r.method)
		}
	}
	methods := make([]string, 0, len(served))
	for m := range served {
		methods = append(methods, m)
	}
	slices.Sort(methods)
	cells := 0
	for _, method := range methods {
		r, ok := rows[method]
		if !ok {
			t.Errorf("%s has no row in the authorization matrix: add one with the code each caller must get", method)
			continue
		}
		t.Run(strings.TrimPrefix(method, "/"), func(t *testing.T) {
			req := requestFor(t, method, r, f)
			for c := range numCallers {
				err := invoke(t, conns[c], method, served[method], req)
				cells++
				st := status.Convert(err)
				if got, want := st.Code(), r.want[c]; got != want {
					t.Errorf("as %s: code %v (%q), want %v", c, got, st.Message(), want)
				} else if w := refusalWord[c]; w != "" && !strings.Contains(st.Message(), w) {
					t.Errorf("as %s: message %q does not say %q", c, st.Message(), w)
				}
			}
		})
	}
	t.Logf("%d methods × %d callers: %d cells checked", len(methods), numCallers, cells)
}

// setUpAuthz registers the matrix's agencies, sends the test documents,
// has the recipient acknowledge them, then suspends and revokes the
// refused columns' credentials, and dials a connection per caller.
func setUpAuthz(t *testing.T, h *hubtest.Hub) (*authzFixture, [numCallers]*grpc.ClientConn) {
	t.Helper()
	ctx := testCtx(t)
	adminC := h.Admin()
	sender := h.Agency(codeG22, "Văn phòng Chính phủ")
	recipient := h.Agency(codeH41, "UBND tỉnh Nghệ An")
	outsider := h.Agency(codeH47, "UBND tỉnh Quảng Nam")
	creds := map[string]string{}
	for _, code := range []string{codeSuspended, codeRevokedSerial, codeRevokedCode} {
		h.AddAgency(code, "UBND tỉnh "+code, pilot)
		creds[code] = h.IssueCreds(code)
	}
	h.AddAgency(codeTarget, "UBND tỉnh Nhận thử", pilot)
	h.AddAgency(codeSpare, "UBND tỉnh Dự phòng", pending)

	to := []string{codeH41, codeSuspended, codeRevokedSerial, codeRevokedCode}
	send := func(number string) string {
		r, err := sender.Send(ctx, &ndxpv1.DocumentHeader{Recipients: to, Subject: "Công văn phân quyền", Number: number},
			[]client.Attachment{{Name: "phu-luc.txt", Body: bytes.NewReader([]byte("phụ lục"))}})
		if err != nil {
			t.Fatalf("send %s: %v", number, err)
		}
		return r.GetDocumentId()
	}
	f := &authzFixture{doc: send("1/PQ"), recall: send("2/PQ")}
	// Acknowledged, the documents stay the recipient's after a recall
	// (status 13, not withdrawn), so RecallDocument finds it a recipient.
	if got := drain(t, recipient); len(got.events) != 2 {
		t.Fatalf("recipient got %d events, want the 2 documents", len(got.events))
	}
	csr, _, err := pki.NewCSR(pki.AgencyIdentity(codeSpare))
	if err != nil {
		t.Fatal(err)
	}
	f.csr = csr

	secondPath, secondSerial := secondAdmin(t, h, "second")
	reg := adminC.Registry
	if _, err := reg.AddAlias(ctx, &ndxpv1.AddAliasRequest{Alias: aliasRemoved, Code: codeSpare}); err != nil {
		t.Fatalf("add alias: %v", err)
	}
	for _, id := range []string{vxpRotated, vxpRemoved} {
		if _, err := reg.AddVxpSystem(ctx, &ndxpv1.AddVxpSystemRequest{SystemId: id, Agencies: []string{codeSpare}}); err != nil {
			t.Fatalf("add VXP system: %v", err)
		}
	}
	if _, err := reg.SuspendAgency(ctx, &ndxpv1.SuspendAgencyRequest{Code: codeSuspended, Reason: "kiểm tra"}); err != nil {
		t.Fatalf("suspend: %v", err)
	}
	for _, req := range []*ndxpv1.RevokeCredentialRequest{
		{CredentialId: credSerial(t, creds[codeRevokedSerial])},
		{Code: codeRevokedCode},
		{CredentialId: secondSerial},
	} {
		if r, err := reg.RevokeCredential(ctx, req); err != nil || r.GetRevoked() != 1 {
			t.Fatalf("RevokeCredential(%v) = %v, %v; want 1 revoked", req, r, err)
		}
	}

	var conns [numCallers]*grpc.ClientConn
	conns[asAdmin] = adminC.Conn()
	conns[asSender] = sender.Conn()
	conns[asRecipient] = recipient.Conn()
	conns[asOutsider] = outsider.Conn()
	conns[asSuspended] = h.Dial(creds[codeSuspended]).Conn()
	conns[asRevokedSerial] = h.Dial(creds[codeRevokedSerial]).Conn()
	conns[asRevokedCode] = h.Dial(creds[codeRevokedCode]).Conn()
	conns[asRevokedAdmin] = h.Dial(secondPath).Conn()
	conns[asNode] = h.Dial(nodeCreds(t, h, "n1")).Conn()

	cert := hubtest.ForeignCert(t)
	conns[asOtherCA] = tlsConn(t, h, []tls.Certificate{cert})
	conns[asNoCert] = tlsConn(t, h, nil)
	return f, conns
}

// requestFor builds r's request and checks it is of the method's input
// type, which comes from the registered descriptors.
func requestFor(t *testing.T, method string, r authzRow, f *authzFixture) proto.Message {
	t.Helper()
	in, _ := messageTypes(t, method)
	if r.req == nil {
		return in.New().Interface()
	}
	req := r.req(f)
	if got, want := req.ProtoReflect().Descriptor().FullName(), in.Descriptor().FullName(); got != want {
		t.Fatalf("row %s: request is a %s, want a %s", method, got, want)
	}
	return req
}

// messageTypes returns the request and response types of a method
// ("/package.Service/Method") from the registered descriptors.
func messageTypes(t *testing.T, method string) (in, out protoreflect.MessageType) {
	t.Helper()
	svc, name, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		t.Fatalf("%s: %s is a %T, not a service", method, svc, d)
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		t.Fatalf("%s: no such method in the descriptor of %s", method, svc)
	}
	if in, err = protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName()); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	if out, err = protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName()); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return in, out
}

// invoke calls method with req and returns its status: a unary call's, or
// a stream's after sending req (and closing the sending side) and reading
// the first response.
func invoke(t *testing.T, conn *grpc.ClientConn, method string, mi grpc.MethodInfo, req proto.Message) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel() // ends a stream after its first response
	_, outType := messageTypes(t, method)
	resp := outType.New().Interface()
	if !mi.IsClientStream && !mi.IsServerStream {
		return conn.Invoke(ctx, method, req, resp)
	}
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{StreamName: mi.Name, ClientStreams: mi.IsClientStream, ServerStreams: mi.IsServerStream}, method)
	if err != nil {
		return err
	}
	// io.EOF: the hub ended the stream already; RecvMsg has its status.
	if err := s.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	if err := s.RecvMsg(resp); !errors.Is(err, io.EOF) {
		return err
	}
	return nil // ended with status OK before its first response
}

// tlsConn dials the hub trusting its CA, presenting certs (none: no
// client certificate).
func tlsConn(t *testing.T, h *hubtest.Hub, certs []tls.Certificate) *grpc.ClientConn {
	t.Helper()
	creds, err := pki.ReadCreds(h.AdminCreds())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	for _, c := range creds.CACerts {
		pool.AddCert(c)
	}
	conf := &tls.Config{RootCAs: pool, Certificates: certs, MinVersion: tls.VersionTLS13}
	conn, err := grpc.NewClient(h.Daemon.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// secondAdmin issues another admin credential from the hub's dev CA, as
// an operator would for a colleague, and returns its file and serial.
func secondAdmin(t *testing.T, h *hubtest.Hub, name string) (path, serial string) {
	t.Helper()
	dir := filepath.Join(h.DataDir, "pki")
	ca, err := pki.LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, serial, err := ca.IssueClient(pki.AdminIdentity(name), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), name+".creds")
	if err := pki.WriteCreds(path, h.Daemon.GRPCAddr(), ca.CertPEM(), certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	return path, serial
}

// nodeCreds writes a credentials file holding a node certificate from the
// hub's CA, as if a node's key were used on the agency port.
func nodeCreds(t *testing.T, h *hubtest.Hub, id string) string {
	t.Helper()
	dir := filepath.Join(h.DataDir, "pki")
	ca, err := pki.LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, _, err := ca.IssueNode(id, []string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), id+".creds")
	if err := pki.WriteCreds(path, h.Daemon.GRPCAddr(), ca.CertPEM(), certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	return path
}

// credSerial is the serial of the certificate in a credentials file: its
// credential id for RevokeCredential.
func credSerial(t *testing.T, path string) string {
	t.Helper()
	c, err := pki.ReadCreds(path)
	if err != nil {
		t.Fatal(err)
	}
	return pki.SerialString(c.Leaf)
}
