package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ndxp/ndxp/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(tb testing.TB, path string) *store.Bolt {
	tb.Helper()
	s, err := store.OpenBolt(path, store.Options{})
	if err != nil {
		tb.Fatalf("OpenBolt: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func put(tb testing.TB, s store.Store, b store.Bucket, k, v string) {
	tb.Helper()
	if err := s.Update(context.Background(), func(tx store.Tx) error { return tx.Put(b, []byte(k), []byte(v)) }); err != nil {
		tb.Fatalf("Update: %v", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ndxp.db")
	s := open(t, path)
	put(t, s, store.BucketAgencies, "000.00.00.G22", "Văn phòng Chính phủ")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s = open(t, path)
	var got []byte
	err := s.View(context.Background(), func(tx store.Tx) error {
		var err error
		got, err = tx.Get(store.BucketAgencies, []byte("000.00.00.G22"))
		return err
	})
	if err != nil || string(got) != "Văn phòng Chính phủ" {
		t.Fatalf("after reopen Get = %q, %v; want the stored name", got, err)
	}
}

func TestClosedStoreRefusesCalls(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ndxp.db"))
	s.Close()
	err := s.Update(context.Background(), func(store.Tx) error { return nil })
	if !errors.Is(err, store.ErrClosed) {
		t.Errorf("Update after Close = %v, want ErrClosed", err)
	}
	err = s.View(context.Background(), func(store.Tx) error { return nil })
	if !errors.Is(err, store.ErrClosed) {
		t.Errorf("View after Close = %v, want ErrClosed", err)
	}
}

func TestGetMissingIsNotFound(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ndxp.db"))
	err := s.View(context.Background(), func(tx store.Tx) error {
		_, err := tx.Get(store.BucketAgencies, []byte("nope"))
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get missing = %v, want ErrNotFound", err)
	}
	err = s.View(context.Background(), func(tx store.Tx) error {
		_, err := tx.Get(store.Bucket("nosuch"), []byte("k"))
		return err
	})
	if !errors.Is(err, store.ErrUnknownBucket) {
		t.Errorf("Get in undeclared bucket = %v, want ErrUnknownBucket", err)
	}
}

func TestFailedUpdateKeepsNothing(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ndxp.db"))
	boom := errors.New("boom")
	err := s.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.Put(store.BucketAgencies, []byte("a"), []byte("1")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	s.View(context.Background(), func(tx store.Tx) error {
		if _, err := tx.Get(store.BucketAgencies, []byte("a")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("write of a failed Update is visible (Get err %v)", err)
		}
		return nil
	})
}

// TestGroupCommitIsolatesFailures runs many concurrent updates, some failing:
// every successful one must be stored and no failing one may leak a write.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ndxp.db"))
	const n = 400
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(context.Background(), func(tx store.Tx) error {
				if err := tx.Put(store.BucketAgencies, fmt.Appendf(nil, "k%04d", i), []byte("v")); err != nil {
					return err
				}
				if i%7 == 0 {
					return fmt.Errorf("update %d refused", i)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	var got []string
	s.View(context.Background(), func(tx store.Tx) error {
		return tx.Scan(store.BucketAgencies, nil, nil, func(k, _ []byte) (bool, error) {
			got = append(got, string(k))
			return true, nil
		})
	})
	var want []string
	for i := range n {
		if i%7 == 0 {
			if errs[i] == nil {
				t.Errorf("update %d: want its error, got nil", i)
			}
			continue
		}
		if errs[i] != nil {
			t.Errorf("update %d: %v", i, errs[i])
		}
		want = append(want, fmt.Sprintf("k%04d", i))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored keys (-want +got):\n%s", diff)
	}
	commits, updates := s.Stats()
	if updates != uint64(len(want)) {
		t.Errorf("Stats updates = %d, want %d", updates, len(want))
	}
	t.Logf("%d updates in %d commits", updates, commits)
}

func TestScanPrefixAndStart(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ndxp.db"))
	for _, k := range []string{"a/1", "a/2", "a/3", "b/1", "a"} {
		put(t, s, store.BucketAgencies, k, "v"+k)
	}
	tests := []struct {
		prefix, start string
		limit         int
		want          []string
	}{
		{prefix: "a/", want: []string{"a/1", "a/2", "a/3"}},
		{prefix: "a/", start: "a/2", want: []string{"a/2", "a/3"}},
		{prefix: "a/", start: "a/25", want: []string{"a/3"}},
		{prefix: "a/", limit: 2, want: []string{"a/1", "a/2"}},
		{prefix: "", start: "a/3", want: []string{"a/3", "b/1"}},
		{prefix: "c", want: nil},
	}
	for _, tt := range tests {
		var got []string
		err := s.View(context.Background(), func(tx store.Tx) error {
			var start []byte
			if tt.start != "" {
				start = []byte(tt.start)
			}
			return tx.Scan(store.BucketAgencies, []byte(tt.prefix), start, func(k, v []byte) (bool, error) {
				if string(v) != "v"+string(k) {
					t.Errorf("value of %s = %s", k, v)
				}
				got = append(got, string(k))
				return tt.limit == 0 || len(got) < tt.limit, nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Scan(%q, %q) (-want +got):\n%s", tt.prefix, tt.start, diff)
		}
	}
}

func TestNewerSchemaRefusedAndUntouched(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ndxp.db")
	s := open(t, path)
	put(t, s, store.BucketMeta, "schema_version", "99")
	s.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.OpenBolt(path, store.Options{})
	if !errors.Is(err, store.ErrSchema) {
		t.Fatalf("OpenBolt on version 99 = %v, want ErrSchema", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Errorf("refused store file was rewritten")
	}
}

func TestCorruptFileRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ndxp.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenBolt(path, store.Options{}); err == nil {
		t.Fatal("OpenBolt on garbage succeeded")
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ndxp.db")
	open(t, path)
	_, err := store.OpenBolt(path, store.Options{LockTimeout: 50e6})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second OpenBolt = %v, want ErrLocked", err)
	}
}

func TestSnapshotIsAStore(t *testing.T) {
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "ndxp.db"))
	put(t, s, store.BucketAgencies, "000.00.00.H41", "UBND tỉnh Nghệ An")
	var buf bytes.Buffer
	var n, size int64
	err := s.Snapshot(context.Background(), func(_ store.Tx, sz int64, write func(io.Writer) (int64, error)) error {
		size = sz
		var err error
		n, err = write(&buf)
		return err
	})
	if err != nil || n != int64(buf.Len()) || n != size {
		t.Fatalf("Snapshot wrote %d (announced %d), %v (buffer %d)", n, size, err, buf.Len())
	}
	copyPath := filepath.Join(dir, "copy.db")
	if err := os.WriteFile(copyPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c := open(t, copyPath)
	err = c.View(context.Background(), func(tx store.Tx) error {
		v, err := tx.Get(store.BucketAgencies, []byte("000.00.00.H41"))
		if err == nil && string(v) != "UBND tỉnh Nghệ An" {
			return fmt.Errorf("value %q", v)
		}
		return err
	})
	if err != nil {
		t.Errorf("snapshot copy: %v", err)
	}
}

func TestCorruptPagesRefusedAndUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ndxp.db")
	s := open(t, path)
	for i := range 2000 {
		put(t, s, store.BucketAgencies, fmt.Sprintf("k%05d", i), strings.Repeat("v", 100))
	}
	s.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Damage data pages, leaving the two meta pages (the first 8 KiB) valid,
	// so bbolt itself opens the file and only the page check can tell.
	for i := 16 << 10; i < len(data) && i < 64<<10; i++ {
		data[i] ^= 0x5a
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = store.OpenBolt(path, store.Options{})
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("OpenBolt on damaged pages = %v, want ErrCorrupt", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(data, after) {
		t.Error("the corrupt file was modified")
	}
}

func TestCheckCleanStore(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ndxp.db"))
	put(t, s, store.BucketAgencies, "a", "b")
	problems, err := s.Check(context.Background())
	if err != nil || len(problems) != 0 {
		t.Errorf("Check = %v, %v; want no problems", problems, err)
	}
}

func TestScanDescPrefixAndBefore(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ndxp.db"))
	for _, k := range []string{"a", "a/1", "a/2", "a/3", "b/1", "b/2"} {
		put(t, s, store.BucketAgencies, k, "v")
	}
	tests := []struct {
		prefix, before string
		want           []string
	}{
		{prefix: "a/", want: []string{"a/3", "a/2", "a/1"}},
		{prefix: "a/", before: "a/3", want: []string{"a/2", "a/1"}},
		{prefix: "a/", before: "a/25", want: []string{"a/2", "a/1"}},
		{prefix: "b/", want: []string{"b/2", "b/1"}}, // the last keys of the bucket
		{prefix: "b/", before: "zz", want: []string{"b/2", "b/1"}},
		{prefix: "", before: "a/2", want: []string{"a/1", "a"}},
		{prefix: "c/", want: nil},
	}
	for _, tt := range tests {
		var got []string
		err := s.View(context.Background(), func(tx store.Tx) error {
			var before []byte
			if tt.before != "" {
				before = []byte(tt.before)
			}
			return tx.ScanDesc(store.BucketAgencies, []byte(tt.prefix), before, func(k, _ []byte) (bool, error) {
				got = append(got, string(k))
				return true, nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ScanDesc(%q, %q) (-want +got):\n%s", tt.prefix, tt.before, diff)
		}
	}
}

// TestCheckWhileWriting: a check taken while the applier commits reports
// no damage and does not crash (in a read transaction it reported pages
// freed by those commits as "reachable freed", or died on bbolt's free
// list map read and written at once).
func TestCheckWhileWriting(t *testing.T) {
	s := openWith(t, filepath.Join(t.TempDir(), "ndxp.db"), store.Options{ApplyDelay: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		val := make([]byte, 3000) // most of a page: every write moves pages
		for i := 0; ctx.Err() == nil; i++ {
			err := s.Update(ctx, func(tx store.Tx) error {
				for j := range 20 {
					k := fmt.Appendf(nil, "k%04d", (i*20+j)%500)
					if (i+j)%3 == 0 {
						if err := tx.Delete(store.BucketQueue, k); err != nil {
							return err
						}
						continue
					}
					if err := tx.Put(store.BucketQueue, k, val); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil && ctx.Err() == nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		problems, err := s.Check(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(problems) > 0 {
			t.Fatalf("check while writing: %v", problems)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
