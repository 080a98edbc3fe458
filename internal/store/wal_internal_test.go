package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func writeLog(t *testing.T, dir string, first uint64, n int) *wal {
	t.Helper()
	w := &wal{dir: dir}
	for i := range n {
		p := encodeOps(nil, []op{{kind: opPut, b: BucketAgencies, key: []byte{byte(i + 1)}, val: []byte("v")}})
		if err := w.append(first+uint64(i), p); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func TestReadLog(t *testing.T) {
	t.Run("records in order", func(t *testing.T) {
		dir := t.TempDir()
		writeLog(t, dir, 7, 3).close(false)
		recs, err := readLog(dir)
		if err != nil || len(recs) != 3 || recs[0].lsn != 7 || recs[2].lsn != 9 {
			t.Fatalf("readLog = %v, %v", recs, err)
		}
		ops, err := decodeOps(recs[2].payload)
		if err != nil || len(ops) != 1 || ops[0].key[0] != 3 || string(ops[0].val) != "v" || ops[0].b != BucketAgencies {
			t.Errorf("decodeOps = %+v, %v", ops, err)
		}
	})
	t.Run("second segment", func(t *testing.T) {
		dir := t.TempDir()
		w := writeLog(t, dir, 1, 2)
		if err := w.rotate(3); err != nil {
			t.Fatal(err)
		}
		if err := w.append(3, nil); err != nil {
			t.Fatal(err)
		}
		w.close(false)
		recs, err := readLog(dir)
		if err != nil || len(recs) != 3 {
			t.Fatalf("readLog = %d records, %v", len(recs), err)
		}
		// Records 1-2 applied: the first segment goes.
		w2 := &wal{dir: dir, segs: w.segs}
		if err := w2.dropApplied(2); err != nil {
			t.Fatal(err)
		}
		if segs, _ := listSegments(dir); len(segs) != 1 || segs[0].first != 3 {
			t.Errorf("after dropApplied(2): %v", segs)
		}
	})
	t.Run("gap between segments", func(t *testing.T) {
		dir := t.TempDir()
		writeLog(t, dir, 1, 2).close(false)
		writeLog(t, dir, 5, 1).close(false)
		if _, err := readLog(dir); !errors.Is(err, ErrCorrupt) {
			t.Errorf("readLog with records 3-4 missing = %v, want ErrCorrupt", err)
		}
	})
	t.Run("stray file", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "junk.wal"), nil, 0o600)
		if _, err := readLog(dir); !errors.Is(err, ErrCorrupt) {
			t.Errorf("readLog = %v, want ErrCorrupt", err)
		}
	})
}

// TestReadLogDamage: a torn record at the end of the log ends it; other
// damage refuses the log.
func TestReadLogDamage(t *testing.T) {
	// writeLog's records are all the same length; the third starts here.
	recLen := recordHeaderSize + len(encodeOps(nil, []op{{kind: opPut, b: BucketAgencies, key: []byte{1}, val: []byte("v")}}))
	third := segmentHeaderSize + 2*recLen
	for _, tc := range []struct {
		name    string
		damage  func(data []byte) []byte
		records int // -1: refused as corrupt
	}{
		{"torn record at the end of the file", func(d []byte) []byte { return d[:third+20] }, 2},
		{"torn record over zeros", func(d []byte) []byte { clear(d[third+20 : third+recLen]); return d }, 2},
		{"torn header", func(d []byte) []byte { return d[:third+3] }, 2},
		{"nothing after the last record", func(d []byte) []byte { return d[:third+recLen] }, 3},
		{"damaged record in the middle", func(d []byte) []byte { d[segmentHeaderSize+20] ^= 1; return d }, -1},
		{"damaged record at the end", func(d []byte) []byte { d[third+20] ^= 1; return d }, 2},
		{"damaged header", func(d []byte) []byte { d[0] = 'X'; return d }, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := writeLog(t, dir, 1, 3)
			w.close(false)
			p := w.segs[0].path
			data, _ := os.ReadFile(p)
			data = tc.damage(data)
			os.WriteFile(p, data, 0o600)
			recs, err := readLog(dir)
			if tc.records < 0 {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("readLog = %d records, %v; want ErrCorrupt", len(recs), err)
				}
				return
			}
			if err != nil || len(recs) != tc.records {
				t.Errorf("readLog = %d records, %v; want %d", len(recs), err, tc.records)
			}
		})
	}
}

// TestLogAheadOfFileRefused: records that start after the file's last
// applied one mean a lost segment; the store is refused, not half-replayed.
func TestLogAheadOfFileRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ndxp.db")
	s, err := OpenBolt(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	writeLog(t, LogDir(path), 4, 1).close(false)
	before, _ := os.ReadFile(path)
	if _, err := OpenBolt(path, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("OpenBolt = %v, want ErrCorrupt", err)
	}
	if after, _ := os.ReadFile(path); string(before) != string(after) {
		t.Error("the store file was modified")
	}
}
