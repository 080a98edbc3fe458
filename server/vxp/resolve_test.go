package vxp_test

import (
	"strings"
	"testing"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/edxml/edxmltest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// statusIDs lists the ids of the statuses waiting for the system.
func statusIDs(c *sdk) []string {
	var ids []string
	for _, it := range c.list("status") {
		ids = append(ids, it.DocID)
	}
	return ids
}

// TestStatusesBetweenAgenciesOfOneSystem: a status report waits in the
// queue of the document's sender. When a recipient is another agency of
// the same system, listed first, getEdoc must still render the reports of
// the other recipients, and updateStatus done must take each report from
// the sender's list, not answer OK and leave it there.
func TestStatusesBetweenAgenciesOfOneSystem(t *testing.T) {
	f := startFixture(t) // sys.a serves G22 first, then H14
	ctx := t.Context()
	packet := edxmltest.Packet(codeH14, codeG22, "Trong một hệ thống", "21/UBND")
	packet = strings.Replace(packet, "<edXML:To>", "<edXML:To><edXML:OrganId>"+codeH41+"</edXML:OrganId></edXML:To><edXML:To>", 1)
	sent := f.sys.sendEdoc(codeH14, "edoc", []byte(packet))
	wantOK(t, "sendEdoc", sent)
	if evs := events(t, f.h41); len(evs) != 1 {
		t.Fatalf("gRPC recipient got %d events", len(evs))
	}
	if _, err := f.h41.Report(ctx, client.Status{DocumentID: sent.DocID, Code: "03", Staff: "Văn thư"}); err != nil {
		t.Fatal(err)
	}
	docs := f.sys.list("edoc")
	if len(docs) != 1 || docs[0].To != codeG22 {
		t.Fatalf("edoc list %+v, want the document for %s", docs, codeG22)
	}
	f.sys.get(docs[0].DocID)
	wantOK(t, "updateStatus done (document)", f.sys.update(docs[0].DocID, "done"))
	ids := statusIDs(f.sys)
	if len(ids) != 3 {
		t.Fatalf("statuses %v, want 01 and 03 of %s, 01 of %s", ids, codeH41, codeG22)
	}
	for _, id := range ids {
		f.sys.get(id)
		wantOK(t, "updateStatus done "+id, f.sys.update(id, "done"))
	}
	if left := statusIDs(f.sys); len(left) != 0 {
		t.Errorf("statuses %v still listed after updateStatus done answered OK", left)
	}
}

// TestRecallDoneAfterAccepting: a recipient that accepts a recall (15)
// before it acknowledges the recall (13) no longer sees the document,
// but the recall still waits in its list: updateStatus done must take it.
func TestRecallDoneAfterAccepting(t *testing.T) {
	f := startFixture(t)
	ctx := t.Context()
	r, err := f.h41.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{codeH14}, Subject: "Sẽ thu hồi", Number: "7/UBND"},
		[]client.Attachment{{Name: "a.txt", Body: strings.NewReader("nội dung")}})
	if err != nil {
		t.Fatal(err)
	}
	docs := f.sys.list("edoc")
	if len(docs) != 1 {
		t.Fatalf("edoc list %+v", docs)
	}
	f.sys.get(docs[0].DocID)
	wantOK(t, "updateStatus done (document)", f.sys.update(docs[0].DocID, "done"))
	if _, err := f.h41.Recall(ctx, r.GetDocumentId(), "Ban hành nhầm"); err != nil {
		t.Fatal(err)
	}
	ids := statusIDs(f.sys)
	if len(ids) != 1 || !strings.HasSuffix(ids[0], "."+codeH14+".13") {
		t.Fatalf("statuses %v, want the recall (13) for %s", ids, codeH14)
	}
	f.sys.get(ids[0])
	accept := edxmltest.StatusPacket(codeH14, codeH41, r.GetReference(), "15", "Đồng ý thu hồi")
	wantOK(t, "sendEdoc 15", f.sys.sendEdoc(codeH14, "status", []byte(accept)))
	wantOK(t, "updateStatus done (recall)", f.sys.update(ids[0], "done"))
	if left := statusIDs(f.sys); len(left) != 0 {
		t.Errorf("statuses %v still listed after done", left)
	}
}
