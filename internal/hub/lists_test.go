package hub

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sendFrom has sender send a document without attachments to recipients.
func sendFrom(t testing.TB, h *Hub, sender, subject string, recipients ...string) string {
	t.Helper()
	docNumber++
	r, err := h.Send(t.Context(), agency(sender), Header{Recipients: recipients, Number: fmt.Sprint(docNumber), Subject: subject}, &chunkList{})
	if err != nil {
		t.Fatalf("%s sends %q: %v", sender, subject, err)
	}
	return r.ID
}

// listFixture is seven documents an hour apart, in every state a list
// filter tells apart; names maps their ids to d1..d7.
type listFixture struct {
	h     *Hub
	t     []time.Time // t[i] is when di was sent
	names map[string]string
}

func newListFixture(t testing.TB, edit func(*Config)) *listFixture {
	t.Helper()
	h, clock := retentionHub(t, edit)
	f := &listFixture{h: h, t: make([]time.Time, 8), names: map[string]string{}}
	sendAt := func(i int, sender string, recipients ...string) string {
		clock.Advance(time.Hour)
		f.t[i] = clock.Now()
		id := sendFrom(t, h, sender, fmt.Sprintf("Văn bản d%d", i), recipients...)
		f.names[id] = fmt.Sprintf("d%d", i)
		return id
	}
	d1 := sendAt(1, codeG22, codeH41)
	complete(t, h, d1, codeH41) // H41: 06
	sendAt(2, codeG22, codeH14) // H14: not acknowledged
	d3 := sendAt(3, codeG22, codeH41, codeH14)
	ack(t, h, d3, codeH41) // H41: 01, H14: not acknowledged
	d4 := sendAt(4, codeH14, codeH41)
	ack(t, h, d4, codeH41)
	report(t, h, d4, codeH41, "03")
	d5 := sendAt(5, codeG22, codeH41)
	recall(t, h, d5) // withdrawn
	d6 := sendAt(6, codeG22, codeH41)
	ack(t, h, d6, codeH41)
	report(t, h, d6, codeH41, "02")
	d7 := sendAt(7, codeG22, codeH41)
	ack(t, h, d7, codeH41)
	recall(t, h, d7) // asked: 13
	return f
}

func (f *listFixture) labels(docs []Summary) []string {
	out := []string{}
	for _, d := range docs {
		out = append(out, f.names[d.Doc.ID])
	}
	return out
}

// all lists every page of a listing, pageSize at a time.
func (f *listFixture) all(t testing.TB, sent bool, p Principal, filter ListFilter, pageSize int) (labels []string, pages int) {
	t.Helper()
	list := f.h.ListReceived
	if sent {
		list = f.h.ListSent
	}
	labels = []string{}
	token := ""
	for {
		docs, next, err := list(t.Context(), p, filter, pageSize, token)
		if err != nil {
			t.Fatalf("list page %d: %v", pages+1, err)
		}
		pages++
		labels = append(labels, f.labels(docs)...)
		if next == "" {
			return labels, pages
		}
		if pages > 100 {
			t.Fatalf("the listing does not end: token %q", next)
		}
		token = next
	}
}

func TestListFilters(t *testing.T) {
	f := newListFixture(t, nil)
	tests := []struct {
		name   string
		sent   bool
		p      string
		filter ListFilter
		want   []string
	}{
		{"sent, all, newest first", true, codeG22, ListFilter{}, []string{"d7", "d6", "d5", "d3", "d2", "d1"}},
		{"sent to H14", true, codeG22, ListFilter{Counterpart: codeH14}, []string{"d3", "d2"}},
		{"sent to H41", true, codeG22, ListFilter{Counterpart: codeH41}, []string{"d7", "d6", "d5", "d3", "d1"}},
		{"sent to an agency never written to", true, codeG22, ListFilter{Counterpart: codeH47}, []string{}},
		// A copy withdrawn before its arrival was acknowledged was never
		// acknowledged: it is listed under 00 (d5).
		{"sent, not yet acknowledged", true, codeG22, ListFilter{Status: "00"}, []string{"d5", "d3", "d2"}},
		{"sent to H41, not yet acknowledged there", true, codeG22, ListFilter{Status: "00", Counterpart: codeH41}, []string{"d5"}},
		{"sent to H14, arrived there", true, codeG22, ListFilter{Status: "01", Counterpart: codeH14}, []string{}},
		// d7 is at 01 and its recall at 13: both filters keep it.
		{"sent, arrived", true, codeG22, ListFilter{Status: "01"}, []string{"d7", "d3"}},
		{"sent, refused", true, codeG22, ListFilter{Status: "02"}, []string{"d6"}},
		{"sent, completed", true, codeG22, ListFilter{Status: "06"}, []string{"d1"}},
		{"sent, recall asked", true, codeG22, ListFilter{Status: "13"}, []string{"d7"}},
		{"sent since d3", true, codeG22, ListFilter{Since: f.t[3]}, []string{"d7", "d6", "d5", "d3"}},
		{"sent until d5", true, codeG22, ListFilter{Until: f.t[5]}, []string{"d3", "d2", "d1"}},
		{"sent from d3 until d5", true, codeG22, ListFilter{Since: f.t[3], Until: f.t[5]}, []string{"d3"}},
		{"sent to H41 from d2 until d7", true, codeG22, ListFilter{Counterpart: codeH41, Since: f.t[2], Until: f.t[7]}, []string{"d6", "d5", "d3"}},
		{"sent since after the last", true, codeG22, ListFilter{Since: f.t[7].Add(time.Second)}, []string{}},
		{"sent by H14", true, codeH14, ListFilter{}, []string{"d4"}},

		{"received, all", false, codeH41, ListFilter{}, []string{"d7", "d6", "d5", "d4", "d3", "d1"}},
		{"received from H14", false, codeH41, ListFilter{Counterpart: codeH14}, []string{"d4"}},
		{"received from G22", false, codeH41, ListFilter{Counterpart: codeG22}, []string{"d7", "d6", "d5", "d3", "d1"}},
		{"received, accepted", false, codeH41, ListFilter{Status: "03"}, []string{"d4"}},
		{"received, arrived", false, codeH41, ListFilter{Status: "01"}, []string{"d7", "d3"}},
		{"received, not yet acknowledged", false, codeH41, ListFilter{Status: "00"}, []string{"d5"}},
		{"received, recall asked", false, codeH41, ListFilter{Status: "13"}, []string{"d7"}},
		{"received, recall accepted", false, codeH41, ListFilter{Status: "15"}, []string{}},
		{"received from G22 until d4", false, codeH41, ListFilter{Counterpart: codeG22, Until: f.t[4]}, []string{"d3", "d1"}},
		{"received by H14", false, codeH14, ListFilter{}, []string{"d3", "d2"}},
		{"received by H14, not yet acknowledged", false, codeH14, ListFilter{Status: "00"}, []string{"d3", "d2"}},
		{"received by an agency sent nothing", false, codeH47, ListFilter{}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, pageSize := range []int{0, 1, 2, 3, MaxDocPage + 1} {
				got, _ := f.all(t, tt.sent, agency(tt.p), tt.filter, pageSize)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("page size %d (-want +got):\n%s", pageSize, diff)
				}
			}
		})
	}
}

// TestListShowsDeliveries: a sender's line carries every recipient's
// delivery, a recipient's only its own.
func TestListShowsDeliveries(t *testing.T) {
	f := newListFixture(t, nil)
	sent, _, err := f.h.ListSent(t.Context(), agency(codeG22), ListFilter{Since: f.t[3], Until: f.t[4]}, 0, "")
	if err != nil || len(sent) != 1 {
		t.Fatalf("ListSent: %d, %v; want d3", len(sent), err)
	}
	var got []string
	for _, d := range sent[0].Deliveries {
		got = append(got, d.Recipient+" "+string(d.Status)+" "+d.Name)
	}
	if diff := cmp.Diff([]string{codeH41 + " 01 UBND tỉnh Nghệ An", codeH14 + "  UBND tỉnh Cao Bằng"}, got); diff != "" {
		t.Errorf("sender's deliveries (-want +got):\n%s", diff)
	}
	if sent[0].SenderName != "Văn phòng Chính phủ" {
		t.Errorf("sender name %q", sent[0].SenderName)
	}
	recv, _, err := f.h.ListReceived(t.Context(), agency(codeH14), ListFilter{Since: f.t[3], Until: f.t[4]}, 0, "")
	if err != nil || len(recv) != 1 || len(recv[0].Deliveries) != 1 || recv[0].Deliveries[0].Recipient != codeH14 {
		t.Errorf("ListReceived by H14: %+v, %v; want d3 with its own delivery only", recv, err)
	}
}

// TestListPages: pages follow each other without repeating or losing a
// document, each at most the page size, the last with no token.
func TestListPages(t *testing.T) {
	f := newListFixture(t, nil)
	all := []string{"d7", "d6", "d5", "d3", "d2", "d1"}
	for _, tt := range []struct {
		pageSize, wantPages int
	}{{1, 6}, {2, 3}, {4, 2}, {5, 2}, {6, 1}, {7, 1}} {
		got, pages := f.all(t, true, agency(codeG22), ListFilter{}, tt.pageSize)
		if diff := cmp.Diff(all, got); diff != "" {
			t.Errorf("page size %d (-want +got):\n%s", tt.pageSize, diff)
		}
		if pages != tt.wantPages {
			t.Errorf("page size %d: %d pages, want %d", tt.pageSize, pages, tt.wantPages)
		}
	}
	// A page is at most its size, and the token continues after its last line.
	docs, next, err := f.h.ListSent(t.Context(), agency(codeG22), ListFilter{}, 2, "")
	if err != nil || len(docs) != 2 || next != docs[1].Doc.ID {
		t.Fatalf("first page: %v, %q, %v", f.labels(docs), next, err)
	}
	docs, _, err = f.h.ListSent(t.Context(), agency(codeG22), ListFilter{}, 2, next)
	if got := f.labels(docs); err != nil || !cmp.Equal(got, []string{"d5", "d3"}) {
		t.Errorf("second page: %v, %v; want [d5 d3]", got, err)
	}
}

// TestListBytes: Limits.ListBytes ends a page early, by the stored size
// of its documents, and the next page goes on from there.
func TestListBytes(t *testing.T) {
	for _, tt := range []struct {
		listBytes, wantPages int
	}{{1, 6}, {0, 1}, {1 << 20, 1}} {
		f := newListFixture(t, func(c *Config) { c.Limits.ListBytes = tt.listBytes })
		got, pages := f.all(t, true, agency(codeG22), ListFilter{}, 0)
		if diff := cmp.Diff([]string{"d7", "d6", "d5", "d3", "d2", "d1"}, got); diff != "" {
			t.Errorf("ListBytes %d (-want +got):\n%s", tt.listBytes, diff)
		}
		if pages != tt.wantPages {
			t.Errorf("ListBytes %d: %d pages, want %d", tt.listBytes, pages, tt.wantPages)
		}
	}
}

func TestListRefusals(t *testing.T) {
	h, _ := retentionHub(t, nil)
	tests := []struct {
		name      string
		p         Principal
		filter    ListFilter
		pageSize  int
		token     string
		wantKind  error
		wantField string
	}{
		{"an admin", admin, ListFilter{}, 0, "", ErrPermission, ""},
		{"no identity", Principal{}, ListFilter{}, 0, "", ErrPermission, ""},
		{"a negative page size", agency(codeG22), ListFilter{}, -1, "", ErrInvalid, "page_size"},
		{"a malformed counterpart", agency(codeG22), ListFilter{Counterpart: "H41"}, 0, "", ErrInvalid, "counterpart"},
		{"an unconfirmed status", agency(codeG22), ListFilter{Status: "07"}, 0, "", ErrInvalid, "status"},
		{"a status that is no code", agency(codeG22), ListFilter{Status: "withdrawn"}, 0, "", ErrInvalid, "status"},
		{"a token the hub did not issue", agency(codeG22), ListFilter{}, 0, "page-2", ErrInvalid, "page_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, list := range []func(p Principal) error{
				func(p Principal) error {
					_, _, err := h.ListSent(t.Context(), p, tt.filter, tt.pageSize, tt.token)
					return err
				},
				func(p Principal) error {
					_, _, err := h.ListReceived(t.Context(), p, tt.filter, tt.pageSize, tt.token)
					return err
				},
			} {
				checkErr(t, "list", list(tt.p), tt.wantKind, tt.wantField)
			}
		})
	}
}
