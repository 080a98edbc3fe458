package hub

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// batches is an AgencySource over fixed batches; it counts the reads.
type batches struct {
	list  [][]Agency
	reads int
	err   error // returned after the batches instead of io.EOF, when set
}

func (b *batches) Next() ([]Agency, error) {
	b.reads++
	if b.reads > len(b.list) {
		if b.err != nil {
			return nil, b.err
		}
		return nil, io.EOF
	}
	return b.list[b.reads-1], nil
}

// endless is an AgencySource that never ends: batches of n new agencies.
type endless struct {
	n, reads, next int
}

func (e *endless) Next() ([]Agency, error) {
	e.reads++
	out := make([]Agency, e.n)
	for i := range out {
		out[i] = Agency{Code: nthCode(e.next), Name: "Cơ quan"}
		e.next++
	}
	return out, nil
}

// nthCode returns the i-th of a million distinct level-2..4 codes under H41.
func nthCode(i int) string {
	return fmt.Sprintf("%03d.%02d.%02d.H41", 1+i%999, i/999%100, i/99900%100)
}

func registered(t *testing.T, h *Hub) int {
	t.Helper()
	return h.Overview().Total
}

func TestImportAgencyStream(t *testing.T) {
	h, _ := newHub(t)
	mustCreate(t, h, "000.00.00.H47", "UBND tỉnh Quảng Nam", StagePilot)
	// A child in the first batch, its parent in the last: the whole
	// import counts as registered, as in one ImportAgencies.
	src := &batches{list: [][]Agency{
		{{Code: "001.00.10.H47", Name: "Phòng Nội vụ huyện Duy Xuyên"}},
		{},
		{{Code: "002.00.00.H47", Name: "  Sở Tài chính  ", Stage: StageProduction}, {Code: "001.00.00.H47", Name: "Sở Nội vụ"}},
	}}
	n, err := h.ImportAgencyStream(t.Context(), src)
	if err != nil || n != 3 {
		t.Fatalf("ImportAgencyStream = %d, %v; want 3, nil", n, err)
	}
	want := map[string]Agency{
		"001.00.10.H47": {Name: "Phòng Nội vụ huyện Duy Xuyên", Parent: "001.00.00.H47", Stage: StagePending},
		"002.00.00.H47": {Name: "Sở Tài chính", Parent: "000.00.00.H47", Stage: StageProduction},
		"001.00.00.H47": {Name: "Sở Nội vụ", Parent: "000.00.00.H47", Stage: StagePending},
	}
	for code, w := range want {
		a, err := h.GetAgency(t.Context(), code)
		if err != nil {
			t.Fatalf("GetAgency(%s): %v", code, err)
		}
		if a.Name != w.Name || a.Parent != w.Parent || a.Stage != w.Stage {
			t.Errorf("%s = %q under %q at %v; want %q under %q at %v", code, a.Name, a.Parent, a.Stage, w.Name, w.Parent, w.Stage)
		}
	}
	if got := registered(t, h); got != 4 {
		t.Errorf("%d agencies registered, want 4", got)
	}
}

func TestImportAgencyStreamRefusals(t *testing.T) {
	ok := func(codes ...string) []Agency {
		var out []Agency
		for _, c := range codes {
			out = append(out, Agency{Code: c, Name: "Cơ quan " + c})
		}
		return out
	}
	tests := []struct {
		name      string
		src       *batches
		wantKind  error
		wantField string
		wantReads int // the source is not read past the refusal
	}{
		{
			name:      "bad code in a later batch, named by its index in the import",
			src:       &batches{list: [][]Agency{ok("000.00.00.H01", "000.00.00.H02"), {{Code: "000.00.00.H79", Name: "x"}, {Code: "000.00.00.X1", Name: "Hỏng"}}, ok("000.00.00.H03")}},
			wantKind:  ErrInvalid,
			wantField: "agencies[3].code",
			wantReads: 2,
		},
		{
			name:      "a code twice across batches",
			src:       &batches{list: [][]Agency{ok("000.00.00.H01"), ok("000.00.00.H02", "000.00.00.H01"), ok("000.00.00.H03")}},
			wantKind:  ErrExists,
			wantField: "agencies[2].code",
			wantReads: 2,
		},
		{
			name:      "already registered: found at commit",
			src:       &batches{list: [][]Agency{ok("000.00.00.H01"), ok("000.00.00.G22")}},
			wantKind:  ErrExists,
			wantField: "agencies[1].code",
			wantReads: 3,
		},
		{
			name:      "unknown parent: found at commit",
			src:       &batches{list: [][]Agency{ok("000.00.00.H01"), {{Code: "001.00.00.H02", Name: "x", Parent: "000.00.00.H99"}}}},
			wantKind:  ErrNotFound,
			wantField: "agencies[1].parent_code",
			wantReads: 3,
		},
		{
			name:      "nothing to import",
			src:       &batches{list: [][]Agency{{}, {}}},
			wantKind:  ErrInvalid,
			wantField: "agencies",
			wantReads: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newHub(t)
			mustCreate(t, h, "000.00.00.G22", "Văn phòng Chính phủ", StageProduction)
			_, err := h.ImportAgencyStream(t.Context(), tt.src)
			if !errors.Is(err, tt.wantKind) {
				t.Fatalf("ImportAgencyStream = %v, want %v", err, tt.wantKind)
			}
			if field, _ := fieldOf(t, err); field != tt.wantField {
				t.Errorf("field = %q, want %q (%v)", field, tt.wantField, err)
			}
			if tt.src.reads != tt.wantReads {
				t.Errorf("the source was read %d times, want %d", tt.src.reads, tt.wantReads)
			}
			if got := registered(t, h); got != 1 {
				t.Errorf("%d agencies registered after a refused import, want 1", got)
			}
		})
	}
}

// TestImportAgencyStreamFailingSource: a broken stream (a client gone)
// stores nothing and its error comes back as it is.
func TestImportAgencyStreamFailingSource(t *testing.T) {
	h, _ := newHub(t)
	gone := errors.New("client went away")
	src := &batches{list: [][]Agency{{{Code: "000.00.00.H01", Name: "UBND"}}}, err: gone}
	if _, err := h.ImportAgencyStream(t.Context(), src); !errors.Is(err, gone) {
		t.Fatalf("ImportAgencyStream = %v, want %v", err, gone)
	}
	if got := registered(t, h); got != 0 {
		t.Errorf("%d agencies registered after a broken import, want 0", got)
	}
}

// TestImportAgencyStreamStopsAtMaxImport: a stream that never ends is
// refused as soon as it passes MaxImport, not read (and held) further.
func TestImportAgencyStreamStopsAtMaxImport(t *testing.T) {
	h, _ := newHub(t)
	src := &endless{n: 10_000}
	_, err := h.ImportAgencyStream(t.Context(), src)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "200000") {
		t.Fatalf("ImportAgencyStream of an endless stream = %v, want ErrInvalid naming the limit", err)
	}
	if field, _ := fieldOf(t, err); field != "agencies" {
		t.Errorf("field = %q, want agencies", field)
	}
	if want := MaxImport/src.n + 1; src.reads != want {
		t.Errorf("the source was read %d times, want %d (refused on the batch that passes %d)", src.reads, want, MaxImport)
	}
	if got := registered(t, h); got != 0 {
		t.Errorf("%d agencies registered, want 0", got)
	}
}

// TestImportStopsAtMaxImportBytes checks the bound on the text held, with
// a small limit: at the real one (128 MiB) the test would hold it all.
func TestImportStopsAtMaxImportBytes(t *testing.T) {
	im := newAgencyImport(0)
	im.maxBytes = 1000
	var batch []Agency
	for i := range 10 {
		batch = append(batch, Agency{Code: nthCode(i), Name: strings.Repeat("x", 137)}) // 150 bytes with the code
	}
	err := im.add(batch)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "agencies[6]") || !strings.Contains(err.Error(), "1000 bytes") {
		t.Fatalf("add = %v, want ErrInvalid at agencies[6] naming the limit", err)
	}
	if len(im.list) != 6 {
		t.Errorf("%d agencies held, want the 6 within the limit", len(im.list))
	}
	if MaxImportBytes < MaxImport*300 {
		t.Errorf("MaxImportBytes %d leaves less than 300 bytes for each of %d agencies", MaxImportBytes, MaxImport)
	}
}

// TestImportAgenciesLeavesInputAlone: the unary import no longer
// normalizes the caller's slice in place.
func TestImportAgenciesLeavesInputAlone(t *testing.T) {
	h, _ := newHub(t)
	list := []Agency{{Code: "000.00.00.H01", Name: "  UBND thành phố Hà Nội  "}}
	if _, err := h.ImportAgencies(t.Context(), list); err != nil {
		t.Fatal(err)
	}
	if list[0].Name != "  UBND thành phố Hà Nội  " || list[0].Stage != StageUnspecified {
		t.Errorf("the caller's list became %+v", list[0])
	}
}
