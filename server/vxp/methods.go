package vxp

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ndxp/ndxp/internal/agencycode"
	"github.com/ndxp/ndxp/internal/hub"
)

// methods are the calls of the protocol, by their exact names.
var methods = map[string]method{
	"sendEdoc":            (*Server).sendEdoc,
	"getReceivedEdocList": (*Server).getReceivedEdocList,
	"getEdoc":             (*Server).getEdoc,
	"updateStatus":        (*Server).updateStatus,
	"getSentEdocList":     (*Server).getSentEdocList,
	"countReceiveEdoc":    func(s *Server, r *request) error { return s.count(r, false) },
	"countReceiveStatus":  func(s *Server, r *request) error { return s.count(r, true) },
	"getAgenciesList":     (*Server).getAgenciesList,
	"getAgenciesListQD20": (*Server).getAgenciesList,
	"getSynchronizeUnit":  (*Server).getSynchronizeUnit,
	"registerAgency":      (*Server).registerAgency,
	"deleteAgency":        (*Server).deleteAgency,
}

// Times in replies: Vietnam's local time, as the SDK's users read it.
var vietnam = time.FixedZone("ICT", 7*3600)

const timeLayout = "2006-01-02 15:04:05"

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(vietnam).Format(timeLayout)
}

// unpaddedHex writes a digest as the SDK's hash-file does: each byte in
// hex without a leading zero (0x05 is "5").
func unpaddedHex(sum []byte) string {
	var b strings.Builder
	for _, c := range sum {
		b.WriteString(strconv.FormatUint(uint64(c), 16))
	}
	return b.String()
}

// messageType reads the messagetype header: edoc (documents, the
// default) or status (status packets).
func messageType(r *request) (statuses bool, err error) {
	switch strings.ToLower(r.header("messagetype")) {
	case "", "edoc":
		return false, nil
	case "status":
		return true, nil
	}
	return false, fail(codeBadRequest, "messagetype %q is neither edoc nor status", r.header("messagetype"))
}

// spool copies the request's body into a temporary file, hashing it, so
// that a body is never held in memory and is checked before the hub acts.
func (s *Server) spool(r *request) (f *os.File, sum []byte, err error) {
	f, err = os.CreateTemp(s.cfg.SpoolDir, "vxp-*")
	if err != nil {
		return nil, nil, fmt.Errorf("spool: %w", err)
	}
	os.Remove(f.Name()) // anonymous: gone with the last descriptor, whatever happens
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), r.Body); err != nil {
		f.Close()
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, nil, fail(codeTooLarge, "the body is larger than %d bytes, the limit for a packet", tooLarge.Limit)
		}
		return nil, nil, fail(codeBadRequest, "the body could not be read: %v", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, h.Sum(nil), nil
}

// codes reads a list of agency codes separated by commas or semicolons.
func codes(v string) []string {
	var out []string
	for _, c := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' }) {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// sendEdoc takes a packet (a document, or with messagetype=status a
// status packet) from one of the system's agencies.
func (s *Server) sendEdoc(r *request) error {
	h := s.cfg.Hub
	p, err := r.principal(h, "from", r.header("from"))
	if err != nil {
		return err
	}
	statuses, err := messageType(r)
	if err != nil {
		return err
	}
	want := r.header("hash-file")
	if want == "" {
		return fail(codeBadRequest, "the hash-file header is required: the SHA-256 of the body")
	}
	f, sum, err := s.spool(r)
	if err != nil {
		return err
	}
	defer f.Close()
	if got := unpaddedHex(sum); !strings.EqualFold(got, want) {
		return fail(codeBadRequest, "hash-file %s does not match the body, whose SHA-256 is %s", want, got)
	}
	expect := hub.ExpectDocument
	if statuses {
		expect = hub.ExpectStatus
	}
	res, err := h.SendPacket(r.Context(), p, hub.ReaderSource(bufio.NewReaderSize(f, 256<<10)), hub.PacketOptions{Fallback: codes(r.header("to")), Expect: expect})
	if err != nil {
		return failOf(err)
	}
	e := ok()
	e.DocID = res.DocID
	writeJSON(r.w, e)
	return nil
}

// listItem is one line of getReceivedEdocList.
type listItem struct {
	DocID       string `json:"docId"`
	From        string `json:"from"`
	To          string `json:"to"`
	Status      string `json:"status"`
	StatusDesc  string `json:"status_desc"`
	ServiceType string `json:"serviceType"`
	MessageType string `json:"messageType"`
	Created     string `json:"created_time"`
	Updated     string `json:"updated_time"`
}

func itemOf(w hub.Waiting) listItem {
	it := listItem{DocID: w.ID, ServiceType: "eDoc", Created: formatTime(w.Time), Updated: formatTime(w.Time)}
	switch {
	case !w.IsStatus():
		it.From, it.To, it.MessageType = w.Sender, w.Recipient, "edoc"
		it.Status, it.StatusDesc = "waiting", "waiting to be fetched (getEdoc) and acknowledged (updateStatus done)"
	case w.Code == hub.StatusRecall:
		it.From, it.To, it.MessageType = w.Sender, w.Recipient, "status"
		it.Status, it.StatusDesc = string(w.Code), w.Code.Text()
	default:
		it.From, it.To, it.MessageType = w.Recipient, w.Sender, "status"
		it.Status, it.StatusDesc = string(w.Code), w.Code.Text()
	}
	return it
}

// getReceivedEdocList lists what waits for the system's agencies, oldest
// first: documents, or (messagetype=status) status packets.
func (s *Server) getReceivedEdocList(r *request) error {
	statuses, err := messageType(r)
	if err != nil {
		return err
	}
	ws, err := s.cfg.Hub.ListWaitingOf(r.Context(), r.principals(s.cfg.Hub), statuses, s.cfg.ListLimit)
	if err != nil {
		return failOf(err)
	}
	items := make([]listItem, 0, len(ws))
	for _, w := range ws {
		items = append(items, itemOf(w))
	}
	return replyData(r, items)
}

// count answers countReceiveEdoc and countReceiveStatus.
func (s *Server) count(r *request, statuses bool) error {
	n := 0
	for _, p := range r.principals(s.cfg.Hub) {
		c, err := s.cfg.Hub.CountWaiting(r.Context(), p, statuses)
		if err != nil {
			return failOf(err)
		}
		n += c
	}
	e := ok()
	e.Count, e.Data = &n, n
	writeJSON(r.w, e)
	return nil
}

// docID reads the docId header, quotes and all. Header names ignore case,
// so docId and docid (which some callers send) are one header; a request
// that carries it twice with different values is refused rather than
// guessed, since the SDK carries headers over from earlier calls.
func docID(r *request) (string, error) {
	var v string
	for _, raw := range r.Header.Values(headerPrefix + "docId") {
		raw = strings.Trim(strings.TrimSpace(raw), `"`)
		switch {
		case raw == "":
		case v == "":
			v = raw
		case raw != v:
			return "", fail(codeBadRequest, "the docId header is given twice, as %q and %q (docId and docid are one header)", v, raw)
		}
	}
	if v == "" {
		return "", fail(codeBadRequest, "the docId header is required")
	}
	return v, nil
}

// target is what an id names for the system: the agency whose view it
// is, the document, and for a status the recipient and code.
type target struct {
	p         hub.Principal
	docID     string
	recipient string
	code      hub.Status
}

// resolve finds which of the system's agencies an id is for: the
// recipient of a document or of a recall; the document's sender for a
// report, or else the recipient that made it; for a bare document id the
// sender, or else any agency that may see it. A system may serve both a
// document's sender and a recipient: the first agency that may see the
// document is not necessarily the one whose view the id names.
func (s *Server) resolve(ctx context.Context, r *request, id string) (target, error) {
	h := s.cfg.Hub
	docID, recipient, code, err := hub.ParseWaitingID(id)
	if err != nil {
		if hub.CheckDocumentID(id) != nil {
			return target{}, failOf(err)
		}
		docID = id
	}
	ofRecipient := recipient != "" && (code == "" || code == hub.StatusRecall)
	var found *target
	for _, p := range r.principals(h) {
		if ofRecipient && p.Name != recipient {
			continue
		}
		v, err := h.GetDocument(ctx, p, docID)
		if errors.Is(err, hub.ErrNotFound) {
			continue
		} else if err != nil {
			return target{}, failOf(err)
		}
		t := target{p: p, docID: docID, recipient: recipient, code: code}
		switch {
		case ofRecipient, v.Doc.Sender == p.Name:
			return t, nil
		case found == nil && (recipient == "" || p.Name == recipient):
			found = &t
		}
	}
	if found != nil {
		return *found, nil
	}
	return target{}, fail(codeNotFound, "%s is not a document or status of system %s's agencies", id, r.system.ID)
}

// acknowledge takes a waiting id from the queue of whichever of the
// system's agencies holds it: the recipient's for a document or a recall,
// the sender's for a report. The queue is the caller's own, so this needs
// no right to see the document: a recipient that accepted a recall (15)
// no longer sees it, yet must be able to acknowledge the recall.
func (s *Server) acknowledge(ctx context.Context, r *request, id string) error {
	h := s.cfg.Hub
	if _, _, _, err := hub.ParseWaitingID(id); err != nil {
		return failOf(err)
	}
	for _, p := range r.principals(h) {
		_, err := h.AcknowledgeWaiting(ctx, p, id)
		if err == nil {
			return nil
		}
		if !errors.Is(err, hub.ErrNotFound) {
			return failOf(err)
		}
	}
	// Not waiting: acknowledged already, through this channel or another,
	// if the id is one of the system's at all.
	_, err := s.resolve(ctx, r, id)
	return err
}

// getEdoc returns a packet in base64: a document as it arrived (or
// rendered, for one sent natively), or a status report as a status packet.
func (s *Server) getEdoc(r *request) error {
	h := s.cfg.Hub
	id, err := docID(r)
	if err != nil {
		return err
	}
	t, err := s.resolve(r.Context(), r, id)
	if err != nil {
		return err
	}
	if t.code != "" {
		b, err := h.StatusPacket(r.Context(), t.p, t.docID, t.recipient, t.code)
		if err != nil {
			return failOf(err)
		}
		return replyData(r, base64.StdEncoding.EncodeToString(b))
	}
	pb, err := h.OpenPacket(r.Context(), t.p, t.docID)
	if err != nil {
		return failOf(err)
	}
	body := io.ReadCloser(pb.Body)
	if !pb.Original {
		// A rendered packet is made into a file first, so that a failure
		// while rendering is a FAIL, not a cut reply.
		f, err := os.CreateTemp(s.cfg.SpoolDir, "vxp-*")
		if err != nil {
			pb.Body.Close()
			return fmt.Errorf("spool: %w", err)
		}
		os.Remove(f.Name())
		_, err = io.Copy(f, pb.Body)
		pb.Body.Close()
		if err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err != nil {
			f.Close()
			return failOf(err)
		}
		body = f
	}
	defer body.Close()
	return streamData(r.w, body)
}

// streamData writes an OK envelope whose data is the base64 of body,
// encoded as it is read.
func streamData(w http.ResponseWriter, body io.Reader) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(`{"status":"OK","ErrorCode":"0","ErrorDesc":"","data":"`)
	enc := base64.NewEncoder(base64.StdEncoding, bw)
	if _, err := io.Copy(enc, body); err != nil {
		// Too late for an envelope: the reply is cut, which the SDK sees
		// as invalid JSON, and the log says why.
		return nil
	}
	enc.Close()
	bw.WriteString("\"}\n")
	bw.Flush()
	return nil
}

// updateStatus acknowledges (done), reports a failed delivery (fail), or
// notes progress (processing, ignored).
func (s *Server) updateStatus(r *request) error {
	h := s.cfg.Hub
	id, err := docID(r)
	if err != nil {
		return err
	}
	st := strings.ToLower(strings.Trim(strings.TrimSpace(r.header("status")), `"`))
	switch st {
	case "done", "fail", "processing":
	default:
		return fail(codeBadRequest, "status %q is not done, fail or processing", r.header("status"))
	}
	if st == "done" {
		if err := s.acknowledge(r.Context(), r, id); err != nil {
			return err
		}
		writeJSON(r.w, ok())
		return nil
	}
	t, err := s.resolve(r.Context(), r, id)
	if err != nil {
		return err
	}
	switch st {
	case "fail":
		if t.code == "" {
			if err := h.ReportDeliveryFailure(r.Context(), t.p, t.docID); err != nil {
				return failOf(err)
			}
		}
	}
	writeJSON(r.w, ok())
	return nil
}

// sentItem is one recipient's line of getSentEdocList.
type sentItem struct {
	ServiceType       string `json:"serviceType"`
	MessageType       string `json:"messageType"`
	SenderDocID       string `json:"senderDocId"`
	ReceiverDocID     string `json:"receiverDocId"`
	FromCode          string `json:"fromCode"`
	ToCode            string `json:"toCode"`
	Title             string `json:"title"`
	Notation          string `json:"notation"`
	SentTime          string `json:"sentTime"`
	ReceivedTime      string `json:"receivedTime"`
	SendStatus        string `json:"sendStatus"`
	SendStatusDesc    string `json:"sendStatusDesc"`
	ReceiveStatus     string `json:"receiveStatus"`
	ReceiveStatusDesc string `json:"receiveStatusDesc"`
}

// getSentEdocList gives a sent document's state at each recipient.
func (s *Server) getSentEdocList(r *request) error {
	id, err := docID(r)
	if err != nil {
		return err
	}
	t, err := s.resolve(r.Context(), r, id)
	if err != nil {
		return err
	}
	v, err := s.cfg.Hub.Trace(r.Context(), t.p, t.docID)
	if err != nil {
		return failOf(err)
	}
	d := v.Doc
	notation := d.Header.Number
	if d.Header.Notation != "" {
		notation += "/" + d.Header.Notation
	}
	items := []sentItem{}
	for _, dv := range v.Deliveries {
		it := sentItem{
			ServiceType: "eDoc", MessageType: "edoc", SenderDocID: d.ID, ReceiverDocID: d.ID + "." + dv.Recipient,
			FromCode: d.Sender, ToCode: dv.Recipient, Title: d.Header.Subject, Notation: notation,
			SentTime: formatTime(d.Created), SendStatus: "sent", SendStatusDesc: "accepted and queued by the hub",
			ReceiveStatus: string(dv.Status), ReceiveStatusDesc: dv.Status.Text(),
		}
		if dv.Delivered != nil {
			it.ReceivedTime = formatTime(*dv.Delivered)
		}
		if dv.Status == hub.StatusNone {
			it.ReceiveStatusDesc = "not yet acknowledged by the recipient"
		}
		if dv.Recall != "" {
			it.ReceiveStatusDesc += "; recall: " + string(dv.Recall)
		}
		items = append(items, it)
	}
	return replyData(r, items)
}

// agencyItem is one line of getAgenciesList.
type agencyItem struct {
	ID      string `json:"id"`
	PID     string `json:"pid"`
	Code    string `json:"code"`
	Name    string `json:"name"`
	Mail    string `json:"mail"`
	OldCode string `json:"oldCode"`
	Code102 string `json:"code102"`
}

// unitItem is one line of getSynchronizeUnit.
type unitItem struct {
	ID         string `json:"id"`
	PID        string `json:"pid"`
	Code       string `json:"code"`
	Name       string `json:"name"`
	Mail       string `json:"mail"`
	CenterCode string `json:"centerCode"`
	Version    int64  `json:"version"`
	Deleted    bool   `json:"deleted"`
	ModifyDate string `json:"modifyDate"`
	IsAgency   bool   `json:"isAgency"`
}

// eachAgency calls fn for every registered agency, page by page.
func (s *Server) eachAgency(ctx context.Context, fn func(hub.Agency) error) error {
	token := ""
	for {
		page, next, err := s.cfg.Hub.ListAgencies(ctx, hub.AgencyFilter{}, 1000, token)
		if err != nil {
			return err
		}
		for _, a := range page {
			if err := fn(a); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		token = next
	}
}

// streamList writes an OK envelope whose data is the array fn emits, one
// element at a time, so 100,000 agencies are not held as one reply.
func streamList[T any](w http.ResponseWriter, fill func(emit func(T) error) error) error {
	// The first element decides whether the reply can still be a FAIL:
	// collect up to it, then stream.
	var first []T
	started := false
	var bw *bufio.Writer
	var enc *json.Encoder
	n := 0
	emit := func(v T) error {
		if !started {
			first = append(first, v)
			if len(first) < 256 {
				return nil
			}
			start(w, &bw, &enc)
			started = true
			for _, f := range first {
				writeElem(bw, enc, f, &n)
			}
			first = nil
			return nil
		}
		writeElem(bw, enc, v, &n)
		return nil
	}
	if err := fill(emit); err != nil {
		if !started {
			return failOf(err)
		}
		return nil // cut: the log says why
	}
	if !started {
		start(w, &bw, &enc)
		for _, f := range first {
			writeElem(bw, enc, f, &n)
		}
	}
	bw.WriteString("]}\n")
	bw.Flush() // a failure now cuts the reply; an envelope can no longer follow
	return nil
}

func start(w http.ResponseWriter, bw **bufio.Writer, enc **json.Encoder) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	*bw = bufio.NewWriterSize(w, 64<<10)
	*enc = json.NewEncoder(*bw)
	(*bw).WriteString(`{"status":"OK","ErrorCode":"0","ErrorDesc":"","data":[`)
}

func writeElem[T any](bw *bufio.Writer, enc *json.Encoder, v T, n *int) {
	if *n > 0 {
		bw.WriteByte(',')
	}
	enc.Encode(v)
	*n++
}

// level reads the optional level header (1..4, docs/domain.md).
func level(r *request) (int, error) {
	v := r.header("level")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 4 {
		return 0, fail(codeBadRequest, "level %q is not 1, 2, 3 or 4", v)
	}
	return n, nil
}

// getAgenciesList lists the registered agencies (of one level, if asked).
func (s *Server) getAgenciesList(r *request) error {
	lvl, err := level(r)
	if err != nil {
		return err
	}
	old := s.cfg.Hub.AliasesByCode()
	return streamList(r.w, func(emit func(agencyItem) error) error {
		return s.eachAgency(r.Context(), func(a hub.Agency) error {
			if lvl != 0 {
				if c, err := agencycode.Parse(a.Code); err != nil || c.Level() != lvl {
					return nil
				}
			}
			return emit(agencyItem{ID: a.Code, PID: a.Parent, Code: a.Code, Name: a.Name, Mail: a.Contact.Email, OldCode: old[a.Code], Code102: a.Code})
		})
	})
}

// getSynchronizeUnit lists the agencies, each with its version (its last
// change, in milliseconds), so a caller keeps its copy by comparing them;
// with syncVersion (an ndxp extension: the SDK's own "version" header is
// its protocol version) only the agencies changed after it.
func (s *Server) getSynchronizeUnit(r *request) error {
	var since int64
	if v := r.header("syncVersion"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fail(codeBadRequest, "syncVersion %q is not a version this hub gave (milliseconds)", v)
		}
		since = n
	}
	return streamList(r.w, func(emit func(unitItem) error) error {
		return s.eachAgency(r.Context(), func(a hub.Agency) error {
			ver := a.Updated.UnixMilli()
			if ver <= since {
				return nil
			}
			center := ""
			if c, err := agencycode.Parse(a.Code); err == nil {
				center = c.Root().String()
			}
			return emit(unitItem{ID: a.Code, PID: a.Parent, Code: a.Code, Name: a.Name, Mail: a.Contact.Email,
				CenterCode: center, Version: ver, Deleted: a.Suspended, ModifyDate: formatTime(a.Updated), IsAgency: true})
		})
	})
}

// registryAllowed: registry changes through the API need the hub's
// permission and an operator's approval of the system.
func (s *Server) registryAllowed(r *request) error {
	if !s.cfg.AllowRegistry || !r.system.AllowRegistry {
		return fail(codeForbidden, "registry changes are made by the hub's operators (ndxpctl agency add)")
	}
	return nil
}

// registerAgency adds an agency, pending until an operator moves it on.
func (s *Server) registerAgency(r *request) error {
	if err := s.registryAllowed(r); err != nil {
		return err
	}
	var in struct {
		ID, Pcode, Code, Name, Mail, Mobile, Fax string
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil {
		return fail(codeBadRequest, "the body is not the agency's JSON {id, pcode, code, name, mail, mobile, fax}: %v", err)
	}
	a, err := s.cfg.Hub.CreateAgency(r.Context(), hub.Agency{Code: in.Code, Name: in.Name, Parent: in.Pcode, Stage: hub.StagePending,
		Contact: hub.Contact{Email: in.Mail, Phone: in.Mobile}})
	if err != nil {
		return failOf(err)
	}
	s.log.Info("agency registered through the VXP API", "system", r.system.ID, "code", a.Code)
	writeJSON(r.w, ok())
	return nil
}

// deleteAgency suspends an agency: the hub never deletes one, so that its
// documents' traces keep their names.
func (s *Server) deleteAgency(r *request) error {
	if err := s.registryAllowed(r); err != nil {
		return err
	}
	code := r.header("AgencyCode")
	if code == "" {
		return fail(codeBadRequest, "the AgencyCode header is required")
	}
	if _, err := s.cfg.Hub.SetSuspended(r.Context(), code, true, "removed through the VXP API by system "+r.system.ID); err != nil {
		return failOf(err)
	}
	s.log.Info("agency suspended through the VXP API", "system", r.system.ID, "code", code)
	writeJSON(r.w, ok())
	return nil
}
