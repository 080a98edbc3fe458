package hub

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/store"
)

// TestBeginStreamAfterRevocation: a stream whose caller was authenticated
// just before a revocation or suspension, and registered just after it
// ended the streams it found, is refused when it registers.
func TestBeginStreamAfterRevocation(t *testing.T) {
	h, _ := newHub(t)
	mustCreate(t, h, "000.00.00.H41", "UBND tỉnh Nghệ An", StagePilot)
	if _, err := h.RevokeCredential(t.Context(), "", "abc123"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.SetSuspended(t.Context(), "000.00.00.H41", true, "kiểm tra"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		p    Principal
		want error
	}{
		{Principal{Admin: true, Name: "ops", Serial: "abc123"}, ErrUnauthenticated},
		{Principal{Name: "000.00.00.H41", Serial: "def456"}, ErrPermission},
		{Principal{Name: "000.00.00.H14", Serial: "def457"}, ErrUnauthenticated},
	} {
		if _, _, err := h.BeginStream(t.Context(), tt.p, StreamSubscribe); !errors.Is(err, tt.want) {
			t.Errorf("BeginStream(%s): %v, want %v", tt.p, err, tt.want)
		}
	}
}

// TestEndStreamsEndsOnlyMatches: a revocation ends the streams of its
// credential with the reason as cause, and no other caller's.
func TestEndStreamsEndsOnlyMatches(t *testing.T) {
	h, _ := newHub(t)
	mustCreate(t, h, "000.00.00.H41", "UBND tỉnh Nghệ An", StagePilot)
	mustCreate(t, h, "000.00.00.H14", "UBND tỉnh Cao Bằng", StagePilot)
	a, doneA, err := h.BeginStream(t.Context(), Principal{Name: "000.00.00.H41", Serial: "a1"}, StreamFetch)
	if err != nil {
		t.Fatal(err)
	}
	defer doneA()
	b, doneB, err := h.BeginStream(t.Context(), Principal{Name: "000.00.00.H14", Serial: "b1"}, StreamFetch)
	if err != nil {
		t.Fatal(err)
	}
	defer doneB()
	if _, err := h.RevokeCredential(t.Context(), "", "a1"); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(context.Cause(a), ErrUnauthenticated) {
		t.Errorf("the revoked credential's stream: cause %v, want ErrUnauthenticated", context.Cause(a))
	}
	if b.Err() != nil {
		t.Errorf("another agency's stream ended: %v", context.Cause(b))
	}
}

// TestStoreErrorsStayInside: a closed store is the hub shutting down to
// the hub's callers, whichever call meets it; no error kind of the store
// leaves the hub (server/ maps hub errors only).
func TestStoreErrorsStayInside(t *testing.T) {
	h, _ := newHub(t)
	mustCreate(t, h, "000.00.00.H41", "UBND tỉnh Nghệ An", StagePilot)
	if err := h.st.Store.Close(); err != nil {
		t.Fatal(err)
	}
	p := Principal{Name: "000.00.00.H41"}
	calls := map[string]error{}
	_, calls["GetDocument"] = h.GetDocument(t.Context(), p, "01HQWGDY00TFSGTB9B8CEXRZJ1")
	_, _, calls["ListReceived"] = h.ListReceived(t.Context(), p, ListFilter{}, 0, "")
	_, calls["OpenAttachment"] = h.OpenAttachment(t.Context(), p, "01HQWGDY00TFSGTB9B8CEXRZJ1", 0)
	_, calls["Check"] = h.Check(t.Context())
	for name, err := range calls {
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, store.ErrClosed) {
			t.Errorf("%s on a closed store: %v, want ErrUnavailable and no store error", name, err)
		}
	}
}

// TestBeginStreamCaps: each stream kind is capped per caller at its own
// limit; a stream ended makes room again, once however often it is ended;
// other callers, and the same name as an admin, count apart.
func TestBeginStreamCaps(t *testing.T) {
	h, _ := retentionHub(t, func(c *Config) {
		c.Limits.Uploads, c.Limits.Fetches, c.Limits.Watches, c.Limits.Backups = 2, 1, 3, 1
	})
	tests := []struct {
		name      string
		kind      StreamKind
		max       int // 0: not capped
		limit     Limit
		wantWords string
	}{
		{"uploads", StreamUpload, 2, LimitUploads, "uploads (SendDocument)"},
		{"fetches", StreamFetch, 1, LimitFetches, "attachment fetches (FetchAttachment)"},
		{"watches", StreamWatch, 3, LimitWatches, "watch streams"},
		{"backups", StreamBackup, 1, LimitBackups, "backups"},
		{"subscriptions", StreamSubscribe, 0, 0, ""},
		{"other", StreamOther, 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Principal{Name: codeH41, Serial: "a1"}
			open := tt.max
			if open == 0 {
				open = 50
			}
			var dones []func()
			for i := range open {
				ctx, done, err := h.BeginStream(t.Context(), p, tt.kind)
				if err != nil {
					t.Fatalf("stream %d of %d: %v", i+1, open, err)
				}
				if ctx.Err() != nil {
					t.Fatalf("stream %d: its context is already done", i+1)
				}
				dones = append(dones, done)
			}
			defer func() {
				for _, done := range dones {
					done()
				}
			}()
			if tt.max == 0 {
				return
			}
			before := h.metrics.Refusals[tt.limit].Load()
			_, _, err := h.BeginStream(t.Context(), p, tt.kind)
			checkErr(t, "one stream past the cap", err, ErrExhausted, "")
			if want := fmt.Sprintf("limit %s: agency:%s already has %d %s open", tt.limit, codeH41, tt.max, tt.wantWords); err != nil && !strings.Contains(err.Error(), want) {
				t.Errorf("refusal %q, want it to say %q", err, want)
			}
			if got := h.metrics.Refusals[tt.limit].Load(); got != before+1 {
				t.Errorf("%s refusals: %d, want %d", tt.limit, got, before+1)
			}
			for _, other := range []Principal{{Name: codeH14, Serial: "b1"}, {Name: codeH41, Admin: true, Serial: "c1"}} {
				_, done, err := h.BeginStream(t.Context(), other, tt.kind)
				if err != nil {
					t.Errorf("%s, at another caller's cap: %v", other, err)
					continue
				}
				done()
			}
			dones[0]()
			dones[0]() // a second end must not free a second slot
			_, done, err := h.BeginStream(t.Context(), p, tt.kind)
			if err != nil {
				t.Fatalf("a stream after one ended: %v", err)
			}
			dones[0] = done
			_, _, err = h.BeginStream(t.Context(), p, tt.kind)
			checkErr(t, "past the cap again", err, ErrExhausted, "")
		})
	}
}

// TestBeginStreamContext: a stream's context ends with its parent and
// when the stream is done; without a cap, nothing is refused.
func TestBeginStreamContext(t *testing.T) {
	h, _ := retentionHub(t, func(c *Config) { c.Limits = Limits{} })
	parent, cancel := context.WithCancel(t.Context())
	a, doneA, err := h.BeginStream(parent, Principal{Name: codeH41}, StreamUpload)
	if err != nil {
		t.Fatal(err)
	}
	defer doneA()
	b, doneB, err := h.BeginStream(t.Context(), Principal{Name: codeH41}, StreamUpload)
	if err != nil {
		t.Fatal(err)
	}
	doneB()
	if b.Err() == nil {
		t.Error("a stream's context is not done after done()")
	}
	cancel()
	if a.Err() == nil {
		t.Error("a stream's context is not done after its parent")
	}
}

// TestSendRate: each sender has its own token bucket; past its burst a
// send is refused, and a retry of an accepted send still gets its receipt.
func TestSendRate(t *testing.T) {
	// One token in a thousand seconds: the bucket does not refill during the test.
	h, _ := retentionHub(t, func(c *Config) { c.Limits.SendRate, c.Limits.SendBurst = 0.001, 2 })
	first := Header{Recipients: []string{codeH41}, Number: "1", Subject: "Một"}
	r1, err := h.Send(t.Context(), agency(codeG22), first, &chunkList{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Send(t.Context(), agency(codeG22), Header{Recipients: []string{codeH41}, Number: "2", Subject: "Hai"}, &chunkList{}); err != nil {
		t.Fatal(err)
	}
	_, err = h.Send(t.Context(), agency(codeG22), Header{Recipients: []string{codeH41}, Number: "3", Subject: "Ba"}, failingSource{t})
	checkErr(t, "a send past the burst", err, ErrExhausted, "")
	if err != nil && !strings.Contains(err.Error(), "limit send_rate: agency 000.00.00.G22 may send 0.001 documents a second (bursts of 2)") {
		t.Errorf("refusal %q does not say which limit", err)
	}
	if got := h.metrics.Refusals[LimitSendRate].Load(); got != 1 {
		t.Errorf("send_rate refusals: %d, want 1", got)
	}
	if r, err := h.Send(t.Context(), agency(codeG22), first, failingSource{t}); err != nil || r.ID != r1.ID || !r.Duplicate {
		t.Errorf("retry past the burst: %+v, %v; want the first receipt", r, err)
	}
	if _, err := h.Send(t.Context(), agency(codeH14), Header{Recipients: []string{codeH41}, Number: "1", Subject: "Của Cao Bằng"}, &chunkList{}); err != nil {
		t.Errorf("another sender: %v", err)
	}
	if evs := queueOf(t, h, codeH41); len(evs) != 3 {
		t.Errorf("queue of %s: %d events, want 3", codeH41, len(evs))
	}
}

// TestQuotas: the bytes waiting for delivery are bounded by sender and by
// recipient; a document counts once per recipient that has not
// acknowledged it, and an acknowledgement gives its bytes back.
func TestQuotas(t *testing.T) {
	const size = 10000
	doc := func(h *Hub, sender string, n int, recipients ...string) error {
		docNumber++
		atts, src := uploadOf(body(n, byte(docNumber)))
		hdr := Header{Recipients: recipients, Number: fmt.Sprint(docNumber), Subject: "Hạn mức", Attachments: atts}
		_, err := h.Send(t.Context(), agency(sender), hdr, src)
		return err
	}
	type step struct {
		sender     string
		size       int
		recipients []string
		wantLimit  Limit // -1: accepted
		alone      bool  // refused even when nothing else waits
	}
	tests := []struct {
		name   string
		sender int64
		recip  int64
		steps  []step
	}{
		{"sender quota", 15000, 0, []step{
			{codeG22, size, []string{codeH41}, -1, false},
			{codeG22, size, []string{codeH14}, LimitSenderQuota, false}, // 10000 waiting + 10000
			{codeH14, size, []string{codeH41}, -1, false},               // another sender
		}},
		{"sender quota counts each recipient", 15000, 0, []step{
			{codeG22, 8000, []string{codeH41, codeH14}, LimitSenderQuota, true}, // 16000 on an empty backlog
			{codeG22, 7000, []string{codeH41, codeH14}, -1, false},
		}},
		{"recipient quota", 0, 15000, []step{
			{codeG22, size, []string{codeH41}, -1, false},
			{codeH14, size, []string{codeH41}, LimitRecipientQuota, false}, // another sender, the same recipient
			{codeG22, size, []string{codeH14}, -1, false},                  // another recipient
			{codeG22, size, []string{codeH14, codeH41}, LimitRecipientQuota, false},
			{codeG22, 16000, []string{codeH14}, LimitRecipientQuota, true}, // larger than the quota alone
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := retentionHub(t, func(c *Config) { c.Limits.SenderQuota, c.Limits.RecipientQuota = tt.sender, tt.recip })
			for i, s := range tt.steps {
				err := doc(h, s.sender, s.size, s.recipients...)
				if s.wantLimit < 0 {
					if err != nil {
						t.Fatalf("step %d: %v, want accepted", i+1, err)
					}
					continue
				}
				checkErr(t, fmt.Sprintf("step %d", i+1), err, ErrExhausted, "")
				if err != nil && !strings.HasPrefix(err.Error(), "limit "+s.wantLimit.String()+": ") {
					t.Errorf("step %d: refusal %q, want limit %s", i+1, err, s.wantLimit)
				}
			}
			// Once everything is acknowledged nothing waits, and what was
			// refused for what waited passes.
			ackAll := func() {
				for _, r := range []string{codeH41, codeH14} {
					var seqs []uint64
					for _, ev := range queueOf(t, h, r) {
						seqs = append(seqs, ev.Seq)
					}
					if _, err := h.Acknowledge(t.Context(), agency(r), seqs); err != nil {
						t.Fatal(err)
					}
				}
			}
			for i, s := range tt.steps {
				if s.wantLimit < 0 {
					continue
				}
				ackAll()
				err := doc(h, s.sender, s.size, s.recipients...)
				switch {
				case s.alone && err == nil:
					t.Errorf("step %d again after the acknowledgements: accepted, want refused", i+1)
				case !s.alone && err != nil:
					t.Errorf("step %d again after the acknowledgements: %v", i+1, err)
				}
			}
		})
	}
}

func TestCheckHeaderSize(t *testing.T) {
	for _, tt := range []struct {
		limit, n int
		wantErr  bool
	}{{100, 99, false}, {100, 100, false}, {100, 101, true}, {0, 1 << 30, false}} {
		h, _ := retentionHub(t, func(c *Config) { c.Limits.HeaderBytes = tt.limit })
		err := h.CheckHeaderSize(tt.n)
		if (err != nil) != tt.wantErr {
			t.Errorf("HeaderBytes %d, header of %d: %v, want error %v", tt.limit, tt.n, err, tt.wantErr)
		}
		if tt.wantErr {
			checkErr(t, "CheckHeaderSize", err, ErrExhausted, "")
			if got := h.metrics.Refusals[LimitHeaderBytes].Load(); got != 1 {
				t.Errorf("header_bytes refusals: %d, want 1", got)
			}
		}
	}
}

// TestRefusedCountsOutsideLimits: the transport counts the refusals it
// makes itself (connections) with the hub's metrics.
func TestRefusedCountsOutsideLimits(t *testing.T) {
	h, _ := retentionHub(t, nil)
	h.Refused(LimitConnections)
	h.Refused(LimitConnections)
	if got := h.Metrics().Refusals[LimitConnections].Load(); got != 2 {
		t.Errorf("connections refusals: %d, want 2", got)
	}
	if got := LimitConnections.String(); got != "connections" {
		t.Errorf("LimitConnections.String() = %q", got)
	}
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Limits)
		wantErr bool
	}{
		{"default", func(*Limits) {}, false},
		{"no limits at all", func(l *Limits) { *l = Limits{} }, false},
		{"negative uploads", func(l *Limits) { l.Uploads = -1 }, true},
		{"negative fetches", func(l *Limits) { l.Fetches = -1 }, true},
		{"negative watches", func(l *Limits) { l.Watches = -1 }, true},
		{"negative backups", func(l *Limits) { l.Backups = -1 }, true},
		{"negative idle", func(l *Limits) { l.UploadIdle = -time.Second }, true},
		{"negative memory", func(l *Limits) { l.UploadMemory = -1 }, true},
		{"negative header bytes", func(l *Limits) { l.HeaderBytes = -1 }, true},
		{"negative list bytes", func(l *Limits) { l.ListBytes = -1 }, true},
		{"negative burst", func(l *Limits) { l.SendBurst = -1 }, true},
		{"negative sender quota", func(l *Limits) { l.SenderQuota = -1 }, true},
		{"negative recipient quota", func(l *Limits) { l.RecipientQuota = -1 }, true},
		{"negative rate", func(l *Limits) { l.SendRate = -1 }, true},
		{"rate not a number", func(l *Limits) { l.SendRate = math.NaN() }, true},
		{"a rate without a burst", func(l *Limits) { l.SendRate, l.SendBurst = 1, 0 }, true},
		{"a burst without a rate", func(l *Limits) { l.SendRate, l.SendBurst = 0, 5 }, false},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		tt.change(&c.Limits)
		if err := c.Validate(); (err != nil) != tt.wantErr {
			t.Errorf("%s: Validate = %v, want error %v", tt.name, err, tt.wantErr)
		}
	}
}
