package vxp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/edxml"
	"github.com/ndxp/ndxp/internal/edxml/edxmltest"
	"github.com/ndxp/ndxp/internal/hub"
	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
	"github.com/ndxp/ndxp/server/vxp"
)

const (
	codeG22 = "000.00.00.G22" // on the VXP API, through system sys.a
	codeH14 = "000.00.00.H14" // on the VXP API too, hosted by the same system
	codeH41 = "000.00.00.H41" // on gRPC
	codeH47 = "000.00.00.H47" // registered, in no system
)

var admin = hub.Principal{Admin: true, Name: "ops"}

// fixture is a hub with agencies on both kinds of client.
type fixture struct {
	h      *hubtest.Hub
	hub    *hub.Hub
	sys    *sdk // sys.a, serving G22 and H14
	h41    *client.Client
	secret string
}

// startFixture starts a real hub serving the VXP API over plain HTTP on
// loopback, as ndxpd --dev does, and registers system sys.a.
func startFixture(t testing.TB) *fixture {
	t.Helper()
	h := hubtest.StartWith(t, func(c *server.Config) { c.VxpListen, c.VxpPlainHTTP = "127.0.0.1:0", true })
	for code, name := range map[string]string{codeG22: "Văn phòng Chính phủ", codeH14: "UBND tỉnh Cao Bằng", codeH47: "UBND tỉnh Quảng Nam"} {
		h.AddAgency(code, name, ndxpv1.Stage_STAGE_PILOT)
	}
	f := &fixture{h: h, hub: h.Daemon.Hub(), h41: h.Agency(codeH41, "UBND tỉnh Nghệ An")}
	var err error
	_, f.secret, err = f.hub.AddVxpSystem(t.Context(), admin, "sys.a", []string{codeG22, codeH14}, false)
	if err != nil {
		t.Fatal(err)
	}
	if h.Daemon.VXPURL() == "" {
		t.Fatal("the hub serves no VXP API")
	}
	f.sys = newSDK(t, h.Daemon.VXPURL(), "sys.a", f.secret, nil)
	return f
}

// events takes what waits for a gRPC agency and acknowledges it.
func events(t *testing.T, c *client.Client) []*ndxpv1.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out []*ndxpv1.Event
	if err := c.Subscribe(ctx, func(_ context.Context, ev *ndxpv1.Event) error {
		out = append(out, ev)
		return nil
	}, client.UntilCaughtUp()); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantOK(t *testing.T, what string, r reply) {
	t.Helper()
	if r.Status != "OK" || r.ErrorCode != "0" {
		t.Fatalf("%s: %s %s %s", what, r.Status, r.ErrorCode, r.ErrorDesc)
	}
}

func wantFail(t *testing.T, what string, r reply, code, desc string) {
	t.Helper()
	if r.Status != "FAIL" || r.ErrorCode != code || !strings.Contains(r.ErrorDesc, desc) {
		t.Errorf("%s: %s %s %q; want FAIL %s naming %q", what, r.Status, r.ErrorCode, r.ErrorDesc, code, desc)
	}
}

// TestSDKFlow drives the SDK's whole path against a real hub, with an
// agency on gRPC on the other side: send, duplicate send, the gRPC side's
// statuses back as status packets, a document from gRPC listed, fetched,
// failed, acknowledged, a status packet back, and a recall by packet.
func TestSDKFlow(t *testing.T) {
	f := startFixture(t)
	ctx := t.Context()
	pdf := edxmltest.PacketAttachment{Name: "cong-van.pdf", ContentType: "application/pdf", Data: bytes.Repeat([]byte("%PDF "), 2000)}
	packet := []byte(edxmltest.Packet(codeG22, codeH41, "Gửi qua SDK", "11/VPCP", pdf))

	// The directory first, as a system starting up does.
	dir := f.sys.call("getAgenciesList", nil, nil, "")
	wantOK(t, "getAgenciesList", dir)
	if !bytes.Contains(dir.Data, []byte(codeH41)) || !bytes.Contains(dir.Data, []byte("UBND tỉnh Nghệ An")) {
		t.Errorf("getAgenciesList: %.300s", dir.Data)
	}

	sent := f.sys.sendEdoc(codeG22, "edoc", packet)
	wantOK(t, "sendEdoc", sent)
	again := f.sys.sendEdoc(codeG22, "edoc", packet)
	wantOK(t, "sendEdoc again", again)
	if sent.DocID == "" || again.DocID != sent.DocID {
		t.Fatalf("DocId %q, then %q: a retry must answer the first", sent.DocID, again.DocID)
	}

	// The gRPC recipient gets the document once, byte for byte, and reports.
	evs := events(t, f.h41)
	if len(evs) != 1 || evs[0].GetDocumentId() != sent.DocID {
		t.Fatalf("gRPC recipient got %d events, want the one document %s", len(evs), sent.DocID)
	}
	var got bytes.Buffer
	if _, _, err := f.h41.FetchPacket(ctx, sent.DocID, &got); err != nil || !bytes.Equal(got.Bytes(), packet) {
		t.Fatalf("packet at the gRPC side: %d bytes, %v; want the %d sent", got.Len(), err, len(packet))
	}
	if _, err := f.h41.Report(ctx, client.Status{DocumentID: sent.DocID, Code: "03", Staff: "Văn thư"}); err != nil {
		t.Fatal(err)
	}

	// Back at the SDK: 01 (arrived) and 03 as status packets.
	sts := f.sys.list("status")
	var codes []string
	for _, it := range sts {
		codes = append(codes, it.Status)
		pk, err := edxml.Read(bytes.NewReader(f.sys.get(it.DocID)), nil, edxml.ReadOptions{})
		if err != nil || !pk.IsStatus() || pk.Status.Code != it.Status || pk.Header.ResponseFor[0].DocumentID != codeG22+",2026/12/01,11/VPCP" {
			t.Errorf("status packet %s: %+v, %v", it.DocID, pk, err)
		}
		wantOK(t, "updateStatus done "+it.DocID, f.sys.update(it.DocID, "done"))
	}
	if strings.Join(codes, ",") != "01,03" {
		t.Errorf("statuses listed %v, want 01 then 03", codes)
	}
	if left := f.sys.list("status"); len(left) != 0 {
		t.Errorf("%d statuses still listed after done", len(left))
	}

	// A document from gRPC to H14, hosted by the same system.
	r, err := f.h41.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{codeH14}, Subject: "Gửi từ gRPC", Number: "5/UBND"},
		[]client.Attachment{{Name: "bao-cao.txt", Body: strings.NewReader("báo cáo")}})
	if err != nil {
		t.Fatal(err)
	}
	docs := f.sys.list("edoc")
	if len(docs) != 1 || docs[0].From != codeH41 || docs[0].To != codeH14 || !strings.HasPrefix(docs[0].DocID, r.GetDocumentId()) {
		t.Fatalf("edoc list %+v, want the document from %s", docs, codeH41)
	}
	pk, err := edxml.Read(bytes.NewReader(f.sys.get(docs[0].DocID)), nil, edxml.ReadOptions{})
	if err != nil || pk.Header.Subject != "Gửi từ gRPC" || len(pk.Attachments) != 1 {
		t.Fatalf("rendered packet: %+v, %v", pk, err)
	}
	wantOK(t, "updateStatus fail", f.sys.update(docs[0].DocID, "fail"))
	wantOK(t, "updateStatus processing", f.sys.update(docs[0].DocID, "processing"))
	if again := f.sys.list("edoc"); len(again) != 1 || again[0].DocID != docs[0].DocID {
		t.Fatalf("after fail: %+v, want the same document still listed with the same id", again)
	}
	// Some callers send docid, quoted.
	other := newSDK(t, f.h.Daemon.VXPURL(), "sys.a", f.secret, nil)
	wantOK(t, "updateStatus done", other.call("updateStatus", map[string]string{"docid": `"` + docs[0].DocID + `"`, "status": "done"}, nil, ""))
	if left := f.sys.list("edoc"); len(left) != 0 {
		t.Errorf("after done: %+v still listed", left)
	}
	wantOK(t, "updateStatus done twice", f.sys.call("updateStatus", map[string]string{"docId": docs[0].DocID, "status": "done"}, nil, ""))
	// The gRPC sender sees the arrival (01), then the SDK's status packet 04.
	st := edxmltest.StatusPacket(codeH14, codeH41, r.GetReference(), "04", "Đã phân công")
	wantOK(t, "sendEdoc status", f.sys.sendEdoc(codeH14, "status", []byte(st)))
	wantOK(t, "sendEdoc status again (a retry)", f.sys.sendEdoc(codeH14, "status", []byte(st)))
	var seen []string
	for _, ev := range events(t, f.h41) {
		seen = append(seen, ev.GetStatus().GetCode())
	}
	if strings.Join(seen, ",") != "01,04" {
		t.Errorf("gRPC sender saw %v, want 01 then 04", seen)
	}

	// A recall by status packet 13 from the SDK's sender reaches the gRPC recipient.
	recall := edxmltest.StatusPacket(codeG22, codeH41, codeG22+",2026/12/01,11/VPCP", "13", "Ban hành nhầm")
	wantOK(t, "sendEdoc recall", f.sys.sendEdoc(codeG22, "status", []byte(recall)))
	var recalled bool
	for _, ev := range events(t, f.h41) {
		recalled = recalled || ev.GetKind() == ndxpv1.EventKind_EVENT_KIND_DOCUMENT_RECALLED
	}
	if !recalled {
		t.Error("the gRPC recipient got no recall")
	}

	// getSentEdocList: the document's state at the recipient.
	sl := f.sys.call("getSentEdocList", map[string]string{"docId": sent.DocID}, nil, "")
	wantOK(t, "getSentEdocList", sl)
	var lines []map[string]any
	if err := json.Unmarshal(sl.Data, &lines); err != nil || len(lines) != 1 || lines[0]["toCode"] != codeH41 || lines[0]["receiveStatus"] != "03" {
		t.Errorf("getSentEdocList: %s, %v", sl.Data, err)
	}
	for _, m := range []string{"countReceiveEdoc", "countReceiveStatus"} {
		c := f.sys.call(m, nil, nil, "")
		if c.Status != "OK" || c.Count == nil || *c.Count != 0 {
			t.Errorf("%s: %+v", m, c)
		}
	}
}

// TestSDKRefusals: each refusal is the envelope with a description that
// says what is wrong.
func TestSDKRefusals(t *testing.T) {
	f := startFixture(t)
	packet := []byte(edxmltest.Packet(codeG22, codeH41, "Thử lỗi", "12/VPCP"))
	wrong := newSDK(t, f.h.Daemon.VXPURL(), "sys.a", "not-the-secret", nil)
	wantFail(t, "wrong secret", wrong.sendEdoc(codeG22, "edoc", packet), "401", "wrong signature for system sys.a")
	unknown := newSDK(t, f.h.Daemon.VXPURL(), "sys.b", f.secret, nil)
	wantFail(t, "unknown system", unknown.call("getReceivedEdocList", nil, nil, ""), "401", `system "sys.b" is not registered`)
	wantFail(t, "foreign from", f.sys.sendEdoc(codeH47, "edoc", packet), "403", `from "000.00.00.H47" is not one of system sys.a's agencies`)
	wantFail(t, "packet from another agency", f.sys.sendEdoc(codeH14, "edoc", packet), "403", "is not the caller's agency")
	wantFail(t, "bad hash-file", f.sys.call("sendEdoc", map[string]string{"from": codeG22, "messagetype": "edoc", "hash-file": "abc"}, bytes.NewReader(packet), ""), "400", "hash-file abc does not match the body")
	broken := append([]byte(" "), packet...)
	wantFail(t, "malformed packet", f.sys.sendEdoc(codeG22, "edoc", broken), "400", "line 1")
	wantFail(t, "a document as a status", f.sys.sendEdoc(codeG22, "status", packet), "400", "not a status packet")
	wantFail(t, "unknown method", f.sys.call("sendDocument", nil, nil, ""), "404", `unknown method "sendDocument"`)
	wantFail(t, "registry", f.sys.call("registerAgency", nil, strings.NewReader(`{"code":"000.00.00.H60","name":"Mới"}`), "application/json"), "403", "registry changes are made by the hub's operators")
	wantFail(t, "not a list id", f.sys.update("nope", "done"), "400", "is not an id of the hub's lists")
	wantFail(t, "bad status", f.sys.update(codeG22, "finished"), "400", `status "finished" is not done, fail or processing`)
	twice := newSDK(t, f.h.Daemon.VXPURL(), "sys.a", f.secret, nil)
	twice.set("docId", "01J00000000000000000000000.000.00.00.G22")
	wantFail(t, "docId and docid differing", twice.call("updateStatus", map[string]string{"docid": "01J00000000000000000000001.000.00.00.G22", "status": "done"}, nil, ""), "400", "the docId header is given twice")
	// A signed header changed after signing.
	req, _ := http.NewRequest(http.MethodPost, f.h.Daemon.VXPURL()+"/getReceivedEdocList", nil)
	sign := `{"XroadVnpt-systemid":"sys.a","XroadVnpt-messagetype":"edoc"}`
	req.Header.Set("XroadVnpt-systemid", "sys.a")
	req.Header.Set("XroadVnpt-messagetype", "status")
	req.Header.Set("XroadVnpt-sign-header", sign)
	req.Header.Set("XroadVnpt-hash-header", hmacHex(f.secret, sign))
	wantFail(t, "changed header", doRaw(t, req), "401", `header XroadVnpt-messagetype is "status", the signature signs "edoc"`)

	// Removing the system and suspending an agency take effect at once.
	if _, err := f.h.Admin().Registry.SuspendAgency(t.Context(), &ndxpv1.SuspendAgencyRequest{Code: codeG22, Reason: "kiểm tra"}); err != nil {
		t.Fatal(err)
	}
	wantFail(t, "suspended", f.sys.sendEdoc(codeG22, "edoc", packet), "403", "suspended")
	if err := f.hub.RemoveVxpSystem(t.Context(), admin, "sys.a"); err != nil {
		t.Fatal(err)
	}
	wantFail(t, "removed system", f.sys.call("getReceivedEdocList", nil, nil, ""), "401", `system "sys.a" is not registered`)
}

func doRaw(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r reply
	if resp.StatusCode != 200 {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestEnvelopeAlways: a body over the limit and a hub shutting down get
// the envelope too, never another status or an HTML page.
func TestEnvelopeAlways(t *testing.T) {
	f := startFixture(t)
	srv := httptest.NewServer(vxp.New(vxp.Config{Hub: f.hub, SpoolDir: t.TempDir(), MaxBody: 8 << 10}))
	defer srv.Close()
	c := newSDK(t, srv.URL, "sys.a", f.secret, nil)
	big := []byte(edxmltest.Packet(codeG22, codeH41, "Quá lớn", "13/VPCP", edxmltest.PacketAttachment{Name: "a.bin", ContentType: "application/octet-stream", Data: make([]byte, 16<<10)}))
	wantFail(t, "body over the limit", c.sendEdoc(codeG22, "edoc", big), "413", "larger than 8192 bytes")
	f.hub.Drain()
	wantFail(t, "draining", c.sendEdoc(codeG22, "edoc", []byte(edxmltest.Packet(codeG22, codeH41, "Khi dừng", "14/VPCP"))), "503", "shutting down")
	if entries, _ := os.ReadDir(srv.Config.Handler.(*vxp.Server).SpoolDir()); len(entries) != 0 {
		t.Errorf("spool holds %d files after the requests", len(entries))
	}
}

// TestPanicIsAnEnvelope: a panic in a method is a FAIL for its caller,
// and the hub goes on.
func TestPanicIsAnEnvelope(t *testing.T) {
	f := startFixture(t)
	h := vxp.New(vxp.Config{Hub: f.hub, SpoolDir: t.TempDir()})
	vxp.AddMethodForTest(h, "boom", func() { panic("boom") })
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := newSDK(t, srv.URL, "sys.a", f.secret, nil)
	wantFail(t, "panic", c.call("boom", nil, nil, ""), "500", "internal error")
	wantOK(t, "after the panic", c.call("countReceiveEdoc", nil, nil, ""))
}

// TestSDKOverTLS: by default the API is HTTPS with the hub's certificate,
// which a client trusting the hub's CA accepts; plain HTTP is refused by
// the TLS listener.
func TestSDKOverTLS(t *testing.T) {
	h := hubtest.StartWith(t, func(c *server.Config) { c.VxpListen = "127.0.0.1:0" })
	h.AddAgency(codeG22, "Văn phòng Chính phủ", ndxpv1.Stage_STAGE_PILOT)
	_, secret, err := h.Daemon.Hub().AddVxpSystem(t.Context(), admin, "sys.tls", []string{codeG22}, false)
	if err != nil {
		t.Fatal(err)
	}
	url := h.Daemon.VXPURL()
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("VXP URL %s, want https", url)
	}
	caPEM, err := os.ReadFile(filepath.Join(h.DataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c := newSDK(t, url, "sys.tls", secret, hc)
	wantOK(t, "countReceiveEdoc over TLS", c.call("countReceiveEdoc", nil, nil, ""))
	if _, err := http.Get("http://" + strings.TrimPrefix(url, "https://") + "/countReceiveEdoc"); err == nil {
		// Go's TLS server answers plain HTTP with a 400 of its own; what
		// matters is that nothing of the API is served in clear.
		t.Log("plain HTTP to the TLS listener got an answer from the TLS layer, not the API")
	}
}

// TestSDKDirectory: the directory calls come from the hub's registry,
// with levels, aliases as old codes, incremental sync by version, and
// registry changes only for an approved system on a hub that allows them.
func TestSDKDirectory(t *testing.T) {
	f := startFixture(t)
	f.h.AddAgency("001.00.00.H14", "Sở Nội vụ Cao Bằng", ndxpv1.Stage_STAGE_PILOT)
	if _, err := f.hub.AddAlias(t.Context(), admin, "28.22.H14", codeH14); err != nil {
		t.Fatal(err)
	}
	decode := func(r reply, v any) {
		t.Helper()
		wantOK(t, "directory", r)
		if err := json.Unmarshal(r.Data, v); err != nil {
			t.Fatal(err)
		}
	}
	var all []map[string]string
	decode(f.sys.call("getAgenciesListQD20", nil, nil, ""), &all)
	byCode := map[string]map[string]string{}
	for _, a := range all {
		byCode[a["code"]] = a
	}
	if len(all) != 5 || byCode[codeH14]["oldCode"] != "28.22.H14" || byCode["001.00.00.H14"]["pid"] != codeH14 || byCode[codeH41]["code102"] != codeH41 {
		t.Errorf("getAgenciesListQD20: %v", all)
	}
	var level2 []map[string]string
	decode(f.sys.call("getAgenciesList", map[string]string{"level": "2"}, nil, ""), &level2)
	if len(level2) != 1 || level2[0]["code"] != "001.00.00.H14" {
		t.Errorf("level 2: %v", level2)
	}
	wantFail(t, "bad level", f.sys.call("getAgenciesList", map[string]string{"level": "9"}, nil, ""), "400", `level "9"`)

	var units []struct {
		Code       string `json:"code"`
		Version    int64  `json:"version"`
		CenterCode string `json:"centerCode"`
	}
	other := newSDK(t, f.h.Daemon.VXPURL(), "sys.a", f.secret, nil)
	decode(other.call("getSynchronizeUnit", nil, nil, ""), &units)
	var newest int64
	for _, u := range units {
		newest = max(newest, u.Version)
		if u.Code == "001.00.00.H14" && u.CenterCode != codeH14 {
			t.Errorf("centerCode of %s: %q", u.Code, u.CenterCode)
		}
	}
	time.Sleep(2 * time.Millisecond) // versions are milliseconds
	f.h.AddAgency("002.00.00.H14", "Sở Tư pháp Cao Bằng", ndxpv1.Stage_STAGE_PILOT)
	decode(other.call("getSynchronizeUnit", map[string]string{"syncVersion": strconv.FormatInt(newest, 10)}, nil, ""), &units)
	if len(units) != 1 || units[0].Code != "002.00.00.H14" {
		t.Errorf("changes since %d: %+v, want the one agency added", newest, units)
	}

	// Registry changes: a hub that allows them, a system approved for them.
	if _, _, err := f.hub.AddVxpSystem(t.Context(), admin, "sys.reg", []string{codeH47}, true); err != nil {
		t.Fatal(err)
	}
	_, secret, err := f.hub.RotateVxpSecret(t.Context(), admin, "sys.reg")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(vxp.New(vxp.Config{Hub: f.hub, SpoolDir: t.TempDir(), AllowRegistry: true}))
	defer srv.Close()
	reg := newSDK(t, srv.URL, "sys.reg", secret, nil)
	notApproved := newSDK(t, srv.URL, "sys.a", f.secret, nil)
	body := `{"id":"x","pcode":"000.00.00.H14","code":"003.00.00.H14","name":"Sở Y tế Cao Bằng","mail":"syt@caobang.gov.vn"}`
	wantFail(t, "not approved", notApproved.call("registerAgency", nil, strings.NewReader(body), "application/json"), "403", "registry changes")
	wantOK(t, "registerAgency", reg.call("registerAgency", nil, strings.NewReader(body), "application/json"))
	a, err := f.hub.GetAgency(t.Context(), "003.00.00.H14")
	if err != nil || a.Stage != hub.StagePending || a.Contact.Email != "syt@caobang.gov.vn" {
		t.Errorf("registered agency %+v, %v; want it pending", a, err)
	}
	wantOK(t, "deleteAgency", reg.call("deleteAgency", map[string]string{"AgencyCode": "003.00.00.H14"}, nil, ""))
	if a, _ := f.hub.GetAgency(t.Context(), "003.00.00.H14"); !a.Suspended {
		t.Error("deleteAgency left the agency active; it suspends it")
	}
}
