package killtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/pki"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// Agency is one agency of a load: its code and credentials file.
type Agency struct {
	Code  string
	Creds string
}

// RegisterAgencies creates the agencies (and ProbeCode) through admin and
// writes each a credentials file into dir listing addrs, retrying while
// the cluster elects a leader, up to timeout.
func RegisterAgencies(ctx context.Context, admin *client.Client, dir, addrs string, names []string, timeout time.Duration) ([]Agency, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out []Agency
	for _, code := range append([]string{ProbeCode}, names...) {
		err := retry(ctx, func(ctx context.Context) error {
			_, err := admin.Registry.CreateAgency(ctx, &ndxpv1.CreateAgencyRequest{
				Agency: &ndxpv1.Agency{Code: code, Name: "Cơ quan thử " + code, Stage: ndxpv1.Stage_STAGE_PILOT},
			})
			if status.Code(err) == codes.AlreadyExists {
				return nil // created by an attempt whose answer was lost
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("create agency %s: %w", code, err)
		}
		if code == ProbeCode {
			continue
		}
		csr, keyPEM, err := pki.NewCSR(pki.AgencyIdentity(code))
		if err != nil {
			return nil, err
		}
		var resp *ndxpv1.IssueCredentialResponse
		if err := retry(ctx, func(ctx context.Context) (err error) {
			resp, err = admin.Registry.IssueCredential(ctx, &ndxpv1.IssueCredentialRequest{Code: code, Csr: csr})
			return err
		}); err != nil {
			return nil, fmt.Errorf("issue credential %s: %w", code, err)
		}
		path := filepath.Join(dir, code+".creds")
		if err := pki.WriteCreds(path, addrs, resp.GetCaPem(), resp.GetCertificatePem(), keyPEM); err != nil {
			return nil, err
		}
		out = append(out, Agency{Code: code, Creds: path})
	}
	return out, nil
}

// retry calls f until it succeeds, fails with an error a leader change
// does not explain, or ctx ends.
func retry(ctx context.Context, f func(context.Context) error) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(cctx)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// transient reports errors after which the same call may succeed: a node
// killed, an election, or an attempt timed out with its outcome unknown.
func transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Aborted, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// LoadConfig shapes a Load.
type LoadConfig struct {
	Agencies []Agency
	// Address is every node's gRPC address, comma-separated.
	Address string
	// Tag makes the references of this load unique among loads on one hub.
	Tag string
	// Pace is the pause between one sender's documents.
	Pace time.Duration
	// Seed makes the recipients and sizes reproducible.
	Seed uint64
}

// Load sends documents between the agencies (one sender goroutine each),
// subscribes each agency with a handler that records every delivery and
// status event, and reports status 03 on half the documents it receives:
// all through the SDK, every call and handler invocation in a History.
type Load struct {
	cfg     LoadConfig
	H       *History
	clients []*client.Client

	sendCtx  context.Context
	stopSend context.CancelFunc
	subCtx   context.Context
	stopSub  context.CancelFunc
	senders  sync.WaitGroup
	subs     sync.WaitGroup

	mu          sync.Mutex
	planned     map[string][]string // reference -> recipients
	receipts    map[string]*ndxpv1.SendDocumentResponse
	receiptAt   []time.Time // wall time of each receipt (first attempts and retries)
	attempts    int
	failures    map[codes.Code]int
	gaveUp      []string
	handled     map[string]int             // recipient/document id -> handler calls
	delivered   map[string]map[string]bool // reference -> recipients whose handler got it
	duplicates  int
	fetchErrs   map[codes.Code]int // handler fetches that failed (the event comes again)
	seen        map[string]int     // document id/recipient/code -> status events at the sender
	reports     map[string]bool    // reference|recipient -> 03 to report; true once recorded
	idAt        map[string]string  // reference|recipient -> the id it was first handled as
	connects    int
	problems    []string
	subErrs     []error
	refOfID     map[string]string          // document id -> reference, from receipts and deliveries
	reportQueue map[string]chan reportItem // agency -> documents it is to report 03 on
}

// reportItem is a document to report 03 on, not before after.
type reportItem struct {
	ref, id string
	after   time.Time
}

// NewLoad dials every agency (twice: one connection sends, one receives)
// and records into a new History.
func NewLoad(ctx context.Context, cfg LoadConfig) (*Load, error) {
	l := &Load{
		cfg: cfg, H: NewHistory(),
		planned: map[string][]string{}, receipts: map[string]*ndxpv1.SendDocumentResponse{}, failures: map[codes.Code]int{},
		handled: map[string]int{}, fetchErrs: map[codes.Code]int{}, delivered: map[string]map[string]bool{}, seen: map[string]int{},
		reports: map[string]bool{}, idAt: map[string]string{}, refOfID: map[string]string{}, reportQueue: map[string]chan reportItem{},
	}
	for _, a := range cfg.Agencies {
		for range 2 {
			c, err := client.Dial(ctx, a.Creds, client.WithAddress(cfg.Address), client.WithTimeout(10*time.Second))
			if err != nil {
				l.Close()
				return nil, err
			}
			l.clients = append(l.clients, c)
		}
		l.reportQueue[a.Code] = make(chan reportItem, 100000)
	}
	return l, nil
}

// Close closes the connections.
func (l *Load) Close() {
	for _, c := range l.clients {
		c.Close()
	}
}

// Start subscribes every agency, then starts the senders and reporters.
func (l *Load) Start(ctx context.Context) {
	l.subCtx, l.stopSub = context.WithCancel(ctx)
	l.sendCtx, l.stopSend = context.WithCancel(ctx)
	for i, a := range l.cfg.Agencies {
		send, recv := l.clients[2*i], l.clients[2*i+1]
		l.subs.Go(func() {
			err := recv.Subscribe(l.subCtx, l.handler(a.Code, recv),
				client.MaxBackoff(500*time.Millisecond),
				client.AckDeadline(3*time.Second),
				client.OnConnection(func(connected bool, _ error) {
					if connected {
						l.mu.Lock()
						l.connects++
						l.mu.Unlock()
					}
				}))
			if l.subCtx.Err() == nil {
				l.mu.Lock()
				l.subErrs = append(l.subErrs, fmt.Errorf("subscription of %s ended during the run: %w", a.Code, err))
				l.mu.Unlock()
			}
		})
		l.subs.Go(func() { l.reporter(a.Code, recv) })
		var others []string
		for _, o := range l.cfg.Agencies {
			if o.Code != a.Code {
				others = append(others, o.Code)
			}
		}
		rng := rand.New(rand.NewPCG(l.cfg.Seed, uint64(i+1)))
		l.senders.Go(func() { l.sendAll(a.Code, send, others, rng) })
	}
}

// StopSends stops the senders (a document without its receipt yet is
// given up) and waits for them.
func (l *Load) StopSends() {
	l.stopSend()
	l.senders.Wait()
}

// bodies are the attachments of the document ref: one of 1-8 KiB, kept
// inside the store and the events, and on one document in eight a second
// of 100-200 KiB, kept as a file that must reach a majority of the nodes
// before the receipt (the hub's InlineLimit is 64 KiB).
func bodies(ref string) [][]byte {
	src := rand.NewChaCha8(sha256.Sum256([]byte(ref)))
	r := rand.New(src)
	sizes := []int{1<<10 + r.IntN(7<<10)}
	if r.IntN(8) == 0 {
		sizes = append(sizes, 100<<10+r.IntN(100<<10))
	}
	out := make([][]byte, len(sizes))
	for i, n := range sizes {
		out[i] = make([]byte, n)
		src.Read(out[i])
	}
	return out
}

func (l *Load) sendAll(code string, c *client.Client, others []string, rng *rand.Rand) {
	for i := 0; l.sendCtx.Err() == nil; i++ {
		ref := fmt.Sprintf("%s,2026/12/02,%s-%d/KILL", code, l.cfg.Tag, i)
		to := []string{others[rng.IntN(len(others))]}
		if rng.IntN(3) == 0 {
			if o := others[rng.IntN(len(others))]; o != to[0] {
				to = append(to, o)
			}
		}
		sort.Strings(to)
		hdr := &ndxpv1.DocumentHeader{
			Reference: ref, Recipients: to, Subject: "Kiểm thử cụm " + ref,
			Number: fmt.Sprintf("%s-%d", l.cfg.Tag, i), Notation: "KILL", PromulgationDate: "2026-12-02", DocumentType: "Công văn",
		}
		bs := bodies(ref)
		l.mu.Lock()
		l.planned[ref] = to
		l.mu.Unlock()
		for {
			if l.sendCtx.Err() != nil {
				l.mu.Lock()
				l.gaveUp = append(l.gaveUp, ref)
				l.mu.Unlock()
				return
			}
			in := Input{Kind: Send, Ref: ref, Recipients: to}
			call := l.H.Now()
			ctx, cancel := context.WithTimeout(l.sendCtx, 10*time.Second)
			atts := make([]client.Attachment, len(bs))
			for j, b := range bs {
				atts[j] = client.Attachment{Name: fmt.Sprintf("phu-luc-%d.bin", j+1), Body: bytes.NewReader(b)}
			}
			r, err := c.Send(ctx, hdr, atts, client.WithAttempts(1))
			cancel()
			ret := l.H.Now()
			l.mu.Lock()
			l.attempts++
			if err == nil {
				l.H.Add(in, call, Output{ID: r.GetDocumentId(), Duplicate: r.GetDuplicate()}, ret)
				l.receipts[ref] = r
				l.refOfID[r.GetDocumentId()] = ref
				l.receiptAt = append(l.receiptAt, time.Now())
				l.mu.Unlock()
				break
			}
			l.H.Add(in, call, Output{Outcome: Unknown}, 0)
			l.failures[status.Code(err)]++
			l.mu.Unlock()
			sleep(l.sendCtx, time.Duration(50+rng.IntN(150))*time.Millisecond)
		}
		sleep(l.sendCtx, l.cfg.Pace)
	}
}

func (l *Load) problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.problems) < 50 {
		l.problems = append(l.problems, fmt.Sprintf(format, args...))
	}
}

// handler records each arrival (checking its attachment) and status event.
func (l *Load) handler(code string, c *client.Client) client.Handler {
	return func(ctx context.Context, ev *ndxpv1.Event) error {
		call := l.H.Now()
		switch ev.GetKind() {
		case ndxpv1.EventKind_EVENT_KIND_STATUS_CHANGED:
			s := ev.GetStatus()
			l.H.Add(Input{Kind: Status, ID: ev.GetDocumentId(), Agency: s.GetRecipientCode(), Code: s.GetCode()}, call, Output{}, l.H.Now())
			l.mu.Lock()
			l.seen[ev.GetDocumentId()+"/"+s.GetRecipientCode()+"/"+s.GetCode()]++
			l.mu.Unlock()
			return nil
		case ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED:
		default:
			l.problem("%s: unexpected event %v", code, ev)
			return nil
		}
		doc := ev.GetDocument()
		id, ref := ev.GetDocumentId(), doc.GetHeader().GetReference()
		want := bodies(ref)
		if n := len(doc.GetHeader().GetAttachments()); n != len(want) {
			l.problem("%s: document %s (%s) has %d attachments, the sender sent %d", code, id, ref, n, len(want))
		}
		for j := range min(len(want), len(doc.GetHeader().GetAttachments())) {
			var got bytes.Buffer
			if _, err := c.FetchAttachment(ctx, doc, j, &got); err != nil {
				l.mu.Lock()
				l.fetchErrs[status.Code(err)]++
				l.mu.Unlock()
				return err // not acknowledged: it comes again
			}
			if !bytes.Equal(got.Bytes(), want[j]) {
				l.problem("%s: document %s (%s): attachment %d differs from what was sent", code, id, ref, j)
			}
		}
		in := Input{Kind: Deliver, Ref: ref, ID: id, Agency: code}
		ret := l.H.Now()
		l.H.Add(in, call, Output{}, ret)
		in.Kind = Ack
		l.H.Add(in, ret, Output{Outcome: Unknown}, 0)
		l.mu.Lock()
		key := code + "/" + id
		if l.handled[key] > 0 {
			l.duplicates++
		}
		l.handled[key]++
		if l.delivered[ref] == nil {
			l.delivered[ref] = map[string]bool{}
		}
		l.delivered[ref][code] = true
		if _, ok := l.refOfID[id]; !ok {
			l.refOfID[id] = ref
		}
		first := l.idAt[ref+"|"+code] == ""
		if first {
			l.idAt[ref+"|"+code] = id
		}
		report := first && sha256.Sum256([]byte(ref + code))[0]%2 == 0
		if report {
			l.reports[ref+"|"+code] = false
		}
		l.mu.Unlock()
		if report {
			// The hub takes 03 only after the arrival's acknowledgement,
			// which the SDK sends after this handler returns.
			l.reportQueue[code] <- reportItem{ref: ref, id: id, after: time.Now().Add(200 * time.Millisecond)}
		}
		return nil
	}
}

// reporter reports status 03 for the documents queued to it, retrying
// until the hub records it or says it is recorded.
func (l *Load) reporter(code string, c *client.Client) {
	q := l.reportQueue[code]
	for {
		var it reportItem
		select {
		case it = <-q:
		case <-l.subCtx.Done():
			return
		}
		sleep(l.subCtx, time.Until(it.after))
		in := Input{Kind: Report, Ref: it.ref, ID: it.id, Agency: code, Code: "03"}
		for l.subCtx.Err() == nil {
			call := l.H.Now()
			ctx, cancel := context.WithTimeout(l.subCtx, 5*time.Second)
			_, err := c.Report(ctx, client.Status{DocumentID: it.id, Code: "03", Staff: "Kiểm thử"})
			cancel()
			ret := l.H.Now()
			msg := status.Convert(err).Message()
			switch {
			case err == nil:
				l.H.Add(in, call, Output{}, ret)
			case status.Code(err) == codes.FailedPrecondition && strings.Contains(msg, "move forward only"):
				l.H.Add(in, call, Output{Outcome: Already}, ret)
			case status.Code(err) == codes.FailedPrecondition && strings.Contains(msg, "acknowledge the arrival first"):
				// Refused before it ran: the acknowledgement is not in yet.
				sleep(l.subCtx, 200*time.Millisecond)
				continue
			default:
				if l.subCtx.Err() == nil {
					l.H.Add(in, call, Output{Outcome: Unknown}, 0)
					if !transient(err) {
						l.problem("%s: report 03 on %s: %v", code, it.id, err)
					}
				}
				sleep(l.subCtx, 200*time.Millisecond)
				continue
			}
			l.mu.Lock()
			l.reports[it.ref+"|"+code] = true
			l.mu.Unlock()
			break
		}
	}
}

// Receipts is the number of documents receipted so far.
func (l *Load) Receipts() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.receipts)
}

// Outstanding counts what the run still owes: a delivery to each
// recipient of every receipted document and of every document delivered
// anywhere (a send is all or nothing), each one's 01 back at the sender,
// and each 03 to report and to reach the sender.
func (l *Load) Outstanding() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	refs := map[string]bool{}
	for ref := range l.receipts {
		refs[ref] = true
	}
	for ref := range l.delivered {
		refs[ref] = true
	}
	for ref := range refs {
		for _, rc := range l.planned[ref] {
			id := l.idAt[ref+"|"+rc]
			if id == "" || l.seen[id+"/"+rc+"/01"] == 0 {
				n++
			}
		}
	}
	for k, done := range l.reports {
		_, rc, _ := strings.Cut(k, "|")
		if !done || l.seen[l.idAt[k]+"/"+rc+"/03"] == 0 {
			n++
		}
	}
	return n
}

// Drain waits up to timeout for Outstanding to reach zero, and a moment
// more for a duplicate to show.
func (l *Load) Drain(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n := l.Outstanding()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d deliveries or statuses still outstanding after %s", n, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	return nil
}

// Stop ends the subscriptions and reporters and waits for them.
func (l *Load) Stop() {
	l.stopSend()
	l.senders.Wait()
	l.stopSub()
	l.subs.Wait()
}

// Summary is what a load saw.
type Summary struct {
	Planned, Receipted, GaveUp int
	Attempts, FailedAttempts   int
	FailuresByCode             map[codes.Code]int
	FetchErrors                map[codes.Code]int // attachment fetches that failed in a handler, each retried
	Expected                   int                // deliveries the receipts promise
	Delivered                  int                // distinct (recipient, document) handled
	Missing                    []string
	Duplicates                 int
	StatusEvents               int
	Reconnects                 int
	Problems                   []string
	Check                      CheckResult
}

// Finish records the end of the run (how often each recipient got each
// document, how often each status reached its sender) into the history,
// checks it, and sums the run up. Call it after Stop.
func (l *Load) Finish(checkTimeout time.Duration) Summary {
	l.mu.Lock()
	now := l.H.Now()
	s := Summary{Planned: len(l.planned), Receipted: len(l.receipts), GaveUp: len(l.gaveUp), Attempts: l.attempts,
		FailuresByCode: maps.Clone(l.failures), FetchErrors: maps.Clone(l.fetchErrs), Duplicates: l.duplicates, Reconnects: l.connects - len(l.cfg.Agencies),
		Problems: slices.Clone(l.problems)}
	for _, n := range l.failures {
		s.FailedAttempts += n
	}
	for _, e := range l.subErrs {
		s.Problems = append(s.Problems, e.Error())
	}
	for _, n := range l.seen {
		s.StatusEvents += n
	}
	for ref, to := range l.planned {
		id := ""
		if r := l.receipts[ref]; r != nil {
			id = r.GetDocumentId()
			s.Expected += len(to)
		}
		for _, rc := range to {
			did := l.idAt[ref+"|"+rc]
			n := 0
			if did != "" {
				n = l.handled[rc+"/"+did]
			}
			if n > 0 {
				s.Delivered++
			} else if id != "" {
				s.Missing = append(s.Missing, fmt.Sprintf("%s (%s) at %s", id, ref, rc))
			}
			l.H.Add(Input{Kind: Final, Ref: ref, Agency: rc}, now, Output{N: n}, now)
			l.H.Add(Input{Kind: FinalStatus, Ref: ref, Agency: rc, Code: "01"}, now, Output{N: l.seen[did+"/"+rc+"/01"]}, now)
			if _, ok := l.reports[ref+"|"+rc]; ok {
				l.H.Add(Input{Kind: FinalStatus, Ref: ref, Agency: rc, Code: "03"}, now, Output{N: l.seen[did+"/"+rc+"/03"]}, now)
			}
		}
	}
	l.mu.Unlock()
	sort.Strings(s.Missing)
	s.Check = Check(l.H.Operations(), checkTimeout)
	return s
}

// FailoverGap is the longest time without a receipt between a second
// before at and 30 s after: the senders' view of a kill at at. (The
// receipt just before and the one just after the kill are not used as
// such: a receipt answered before the kill may be recorded a moment
// after it.)
func (l *Load) FailoverGap(at time.Time) (time.Duration, error) {
	l.mu.Lock()
	times := slices.Clone(l.receiptAt)
	l.mu.Unlock()
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	var gap time.Duration
	from, to := at.Add(-time.Second), at.Add(30*time.Second)
	found := false
	for i := 1; i < len(times); i++ {
		if times[i-1].Before(from) || times[i].After(to) {
			continue
		}
		if times[i-1].Before(at) && !times[i].Before(at) {
			found = true
		}
		gap = max(gap, times[i].Sub(times[i-1]))
	}
	if !found {
		return 0, errors.New("no receipt on one side of the kill")
	}
	return gap, nil
}

// ReceiptsCalledAfter counts receipts of attempts called after t.
func (l *Load) ReceiptsCalledAfter(t int64) int {
	n := 0
	for _, op := range l.H.Operations() {
		if in := op.Input.(Input); in.Kind == Send && op.Call > t && op.Output.(Output).Outcome == OK {
			n++
		}
	}
	return n
}
