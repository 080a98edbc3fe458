package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/store"
)

// lazy never applies the log on its own within a test, so reads must find
// the writes in the overlay.
var lazy = store.Options{ApplyDelay: time.Hour, ApplyOps: 1 << 30}

func openWith(tb testing.TB, path string, opts store.Options) *store.Bolt {
	tb.Helper()
	s, err := store.OpenBolt(path, opts)
	if err != nil {
		tb.Fatalf("OpenBolt: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func get(tb testing.TB, s store.Store, b store.Bucket, k string) (string, bool) {
	tb.Helper()
	var v []byte
	err := s.View(context.Background(), func(tx store.Tx) error {
		var err error
		v, err = tx.Get(b, []byte(k))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return "", false
	}
	if err != nil {
		tb.Fatalf("View: %v", err)
	}
	return string(v), true
}

func del(tb testing.TB, s store.Store, b store.Bucket, k string) {
	tb.Helper()
	if err := s.Update(context.Background(), func(tx store.Tx) error { return tx.Delete(b, []byte(k)) }); err != nil {
		tb.Fatalf("Update: %v", err)
	}
}

func nextSeq(tb testing.TB, s store.Store) uint64 {
	tb.Helper()
	var n uint64
	if err := s.Update(context.Background(), func(tx store.Tx) error {
		var err error
		n, err = tx.NextSequence(store.BucketQueue)
		return err
	}); err != nil {
		tb.Fatalf("NextSequence: %v", err)
	}
	return n
}

// TestLogReplayedAfterCrash: every write answered before a crash is there
// after the next open, though none had reached the file.
func TestLogReplayedAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ndxp.db")
	s, err := store.OpenBolt(path, lazy)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		put(t, s, store.BucketAgencies, fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d", i))
	}
	for i := range 10 {
		del(t, s, store.BucketAgencies, fmt.Sprintf("k%03d", i))
	}
	put(t, s, store.BucketAgencies, "k050", "changed")
	for range 5 {
		nextSeq(t, s)
	}
	s.Crash()
	if _, err := os.Stat(store.LogDir(path)); err != nil {
		t.Fatalf("no log after the crash: %v", err)
	}

	s = openWith(t, path, store.Options{})
	if _, err := os.Stat(store.LogDir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("log still there after it was replayed: %v", err)
	}
	for i := range 100 {
		k := fmt.Sprintf("k%03d", i)
		v, ok := get(t, s, store.BucketAgencies, k)
		want := fmt.Sprintf("v%d", i)
		if i == 50 {
			want = "changed"
		}
		if i < 10 {
			if ok {
				t.Errorf("%s = %q after replay, want deleted", k, v)
			}
			continue
		}
		if !ok || v != want {
			t.Errorf("%s = %q, %v after replay, want %q", k, v, ok, want)
		}
	}
	if n := nextSeq(t, s); n != 6 {
		t.Errorf("sequence after replay = %d, want 6", n)
	}
	s.Close()
	// And a clean close leaves no log but keeps everything.
	s2 := openWith(t, path, store.Options{})
	if v, _ := get(t, s2, store.BucketAgencies, "k099"); v != "v99" {
		t.Errorf("k099 = %q after a clean reopen", v)
	}
}

// TestCrashAfterPartialApply: a crash after the applier copied some records
// replays only the rest.
func TestCrashAfterPartialApply(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ndxp.db")
	s, err := store.OpenBolt(path, lazy)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, store.BucketAgencies, "a", "1")
	put(t, s, store.BucketAgencies, "n", "1")
	// A snapshot waits until the file has both writes.
	if err := s.Snapshot(context.Background(), func(store.Tx, int64, func(w io.Writer) (int64, error)) error { return nil }); err != nil {
		t.Fatal(err)
	}
	put(t, s, store.BucketAgencies, "a", "2")
	del(t, s, store.BucketAgencies, "n")
	s.Crash()
	s = openWith(t, path, store.Options{})
	if v, _ := get(t, s, store.BucketAgencies, "a"); v != "2" {
		t.Errorf("a = %q, want 2", v)
	}
	if _, ok := get(t, s, store.BucketAgencies, "n"); ok {
		t.Error("n is back after replay")
	}
}

// TestReadsMergeLogAndFile checks Get, Scan, ScanDesc and Count against a
// plain map while writes land in the overlay, the file, or both.
func TestReadsMergeLogAndFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ndxp.db")
	s, err := store.OpenBolt(path, lazy)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]string{}
	ctx := context.Background()
	for step := range 400 {
		switch r := rng.IntN(100); {
		case r < 2: // reopen: everything reaches the file
			s.Close()
			s = openWith(t, path, lazy)
		case r < 6: // a snapshot applies the log
			if err := s.Snapshot(ctx, func(store.Tx, int64, func(w io.Writer) (int64, error)) error { return nil }); err != nil {
				t.Fatal(err)
			}
		default: // a batch of writes, some of them failing
			randomUpdate(t, s, rng, step, model)
		}
		checkAgainst(t, s, model, rng)
		if t.Failed() {
			t.Fatalf("stopped at step %d", step)
		}
	}
}

// randomUpdate makes up to five random writes in one Update, which one
// time in six fails, and applies those that were kept to model.
func randomUpdate(t *testing.T, s store.Store, rng *rand.Rand, step int, model map[string]string) {
	t.Helper()
	n := 1 + rng.IntN(5)
	fail := rng.IntN(6) == 0
	staged := map[string]*string{}
	err := s.Update(context.Background(), func(tx store.Tx) error {
		clear(staged)
		for range n {
			k := fmt.Sprintf("%c/%02d", 'a'+rng.IntN(3), rng.IntN(30))
			if rng.IntN(3) == 0 {
				if err := tx.Delete(store.BucketAgencies, []byte(k)); err != nil {
					return err
				}
				staged[k] = nil
				continue
			}
			v := fmt.Sprintf("v%d", step)
			if err := tx.Put(store.BucketAgencies, []byte(k), []byte(v)); err != nil {
				return err
			}
			staged[k] = &v
		}
		if fail {
			return errors.New("refused")
		}
		return nil
	})
	if fail != (err != nil) {
		t.Fatalf("step %d: Update = %v, fail = %v", step, err, fail)
	}
	if fail {
		return
	}
	for k, v := range staged {
		if v == nil {
			delete(model, k)
		} else {
			model[k] = *v
		}
	}
}

func checkAgainst(t *testing.T, s store.Store, model map[string]string, rng *rand.Rand) {
	t.Helper()
	var keys []string
	for k := range model {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	prefix := []string{"", "a/", "b/", "c/", "b/1"}[rng.IntN(5)]
	bound := fmt.Sprintf("%c/%02d", 'a'+rng.IntN(3), rng.IntN(30))
	var wantAsc, wantDesc []string
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if k >= bound || bound < prefix {
			wantAsc = append(wantAsc, k+"="+model[k])
		}
		if k < bound {
			wantDesc = append([]string{k + "=" + model[k]}, wantDesc...)
		}
	}
	var gotAsc, gotDesc []string
	var count int
	err := s.View(context.Background(), func(tx store.Tx) error {
		if err := tx.Scan(store.BucketAgencies, []byte(prefix), []byte(bound), func(k, v []byte) (bool, error) {
			gotAsc = append(gotAsc, string(k)+"="+string(v))
			return true, nil
		}); err != nil {
			return err
		}
		if err := tx.ScanDesc(store.BucketAgencies, []byte(prefix), []byte(bound), func(k, v []byte) (bool, error) {
			gotDesc = append(gotDesc, string(k)+"="+string(v))
			return true, nil
		}); err != nil {
			return err
		}
		var err error
		count, err = tx.Count(store.BucketAgencies)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotAsc, wantAsc) {
		t.Errorf("Scan(%q, %q) = %v, want %v", prefix, bound, gotAsc, wantAsc)
	}
	if !slices.Equal(gotDesc, wantDesc) {
		t.Errorf("ScanDesc(%q, %q) = %v, want %v", prefix, bound, gotDesc, wantDesc)
	}
	if count != len(model) {
		t.Errorf("Count = %d, want %d", count, len(model))
	}
	for range 3 {
		k := fmt.Sprintf("%c/%02d", 'a'+rng.IntN(3), rng.IntN(30))
		v, ok := get(t, s, store.BucketAgencies, k)
		mv, mok := model[k]
		if ok != mok || v != mv {
			t.Errorf("Get(%s) = %q, %v; want %q, %v", k, v, ok, mv, mok)
		}
	}
}

// TestApplyKeepsLastWrite: the applier and the replay at open apply a batch
// of log records sorted by key; whatever the order of the writes, the file
// must end as the log says, the last write to each key winning.
func TestApplyKeepsLastWrite(t *testing.T) {
	for _, how := range []string{"applied at close", "replayed after a crash"} {
		t.Run(how, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ndxp.db")
			s, err := store.OpenBolt(path, lazy) // every record in one batch
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(how))))
			want, seq := writeRecords(t, s, rng, 300)
			if how == "applied at close" {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(store.LogDir(path)); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("log left after a clean close: %v", err)
				}
			} else {
				s.Crash()
			}
			s = openWith(t, path, store.Options{})
			for _, b := range slices.Sorted(maps.Keys(want)) {
				got := map[string]string{}
				if err := s.View(context.Background(), func(tx store.Tx) error {
					return tx.Scan(b, nil, nil, func(k, v []byte) (bool, error) {
						got[string(k)] = string(v)
						return true, nil
					})
				}); err != nil {
					t.Fatal(err)
				}
				if !maps.Equal(want[b], got) {
					t.Errorf("bucket %s: %d keys, want %d; differ at %v", b, len(got), len(want[b]), firstDiff(want[b], got))
				}
			}
			if n := nextSeq(t, s); n != seq+1 {
				t.Errorf("next sequence %d, want %d", n, seq+1)
			}
		})
	}
}

// writeRecords commits that many records of random writes to two buckets,
// the same keys again included, and returns what each bucket must then
// hold and the last sequence given out.
func writeRecords(t *testing.T, s store.Store, rng *rand.Rand, records int) (map[store.Bucket]map[string]string, uint64) {
	t.Helper()
	buckets := []store.Bucket{store.BucketAgencies, store.BucketQueue}
	want := map[store.Bucket]map[string]string{store.BucketAgencies: {}, store.BucketQueue: {}}
	var seq uint64
	for r := range records {
		err := s.Update(context.Background(), func(tx store.Tx) error {
			for i := range 1 + rng.IntN(8) {
				b := buckets[rng.IntN(len(buckets))]
				k := fmt.Sprintf("k%02d", rng.IntN(40))
				switch rng.IntN(5) {
				case 0:
					if err := tx.Delete(b, []byte(k)); err != nil {
						return err
					}
					delete(want[b], k)
				case 1:
					n, err := tx.NextSequence(store.BucketQueue)
					if err != nil {
						return err
					}
					seq = n
				default:
					v := fmt.Sprintf("r%d.%d", r, i)
					if err := tx.Put(b, []byte(k), []byte(v)); err != nil {
						return err
					}
					want[b][k] = v
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return want, seq
}

func firstDiff(want, got map[string]string) string {
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			return fmt.Sprintf("%s: got %q, want %q", k, got[k], want[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			return fmt.Sprintf("%s: got %q, want none", k, got[k])
		}
	}
	return "nothing"
}
