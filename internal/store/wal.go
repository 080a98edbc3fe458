package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The write-ahead log in front of bbolt: its segment files (the format of
// their contents is in record.go).
//
// Each group commit appends one record to the log and syncs it with one
// fdatasync; that is when its callers are answered. The applier copies
// records into bbolt later, many at a time, and stores the last applied
// record's number (LSN) in the same bbolt transaction; segments whose
// records are all applied are then deleted. On open, records after the
// applied LSN are replayed into bbolt.

const (
	walSuffix = ".wal"
	// walSegmentSize: a new segment is started once the current one is
	// larger than this, so applied records can be dropped a file at a time.
	walSegmentSize = 64 << 20
)

// LogDir is the directory of the write-ahead log of the store file at
// path. It belongs to that file: moving the file without it loses the
// writes not yet applied, and a log left beside another file is refused
// or, worse, replayed onto it.
func LogDir(path string) string { return path + "-wal" }

type segment struct {
	path  string
	first uint64 // LSN of its first record
}

// wal appends records; only the committer uses it.
type wal struct {
	dir  string
	segs []segment // oldest first; the last one is open for appending
	f    *os.File
	size int64 // end of the last record
	// alloc: the file is written (with zeros past size) up to here. A
	// record written over zeros is synced without a change of file size,
	// which fdatasync must otherwise also commit to the journal.
	alloc int64
	zeros []byte
	buf   []byte
	// broken is set when a failed write could not be undone: the file's
	// tail is unknown, so nothing more may be appended.
	broken error
}

// listSegments returns the log's segments, oldest first.
func listSegments(dir string) ([]segment, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, walSuffix) {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, walSuffix), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: unexpected file %s in the log directory", ErrCorrupt, name)
		}
		segs = append(segs, segment{path: filepath.Join(dir, name), first: first})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	return segs, nil
}

// walRecord is one record read back from the log.
type walRecord struct {
	lsn     uint64
	payload []byte
}

// readLog reads every record of the log at dir. A record cut short at the
// end of the last segment (a crash during its write, so never
// acknowledged) ends the log; any other damage, or a gap in the record
// numbers, is ErrCorrupt. Nothing is modified.
func readLog(dir string) ([]walRecord, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	var recs []walRecord
	for i, sg := range segs {
		data, err := os.ReadFile(sg.path)
		if err != nil {
			return nil, err
		}
		last := i == len(segs)-1
		var next uint64
		if recs, next, err = readSegment(recs, sg, data, last); err != nil {
			return nil, err
		}
		if !last && segs[i+1].first != next {
			return nil, fmt.Errorf("%w: log segment %s follows record %d", ErrCorrupt, filepath.Base(segs[i+1].path), next-1)
		}
	}
	return recs, nil
}

// readSegment appends the records in data, the contents of segment sg, to
// recs and returns the number the record after them must have. Only the
// last segment may end in a torn record.
func readSegment(recs []walRecord, sg segment, data []byte, last bool) ([]walRecord, uint64, error) {
	name := filepath.Base(sg.path)
	if len(data) < segmentHeaderSize {
		if last && allZero(data[:min(len(data), len(walMagic))]) {
			return recs, sg.first, nil // created, header not yet on disk
		}
		return nil, 0, fmt.Errorf("%w: log segment %s is too short", ErrCorrupt, name)
	}
	if !validSegmentHeader(data, sg.first) {
		return nil, 0, fmt.Errorf("%w: log segment %s has a bad header", ErrCorrupt, name)
	}
	next := sg.first
	for off := segmentHeaderSize; off < len(data); {
		rest := data[off:]
		if allZero(rest) {
			break // the zeros the segment grew by
		}
		lsn, payload, ok := parseRecord(rest)
		if !ok {
			if last && tornRecord(rest) {
				break
			}
			return nil, 0, fmt.Errorf("%w: log segment %s: damaged record at offset %d", ErrCorrupt, name, off)
		}
		if lsn != next {
			return nil, 0, fmt.Errorf("%w: log segment %s: record %d where %d was expected", ErrCorrupt, name, lsn, next)
		}
		recs = append(recs, walRecord{lsn: lsn, payload: payload})
		next++
		off += recordHeaderSize + len(payload)
	}
	return recs, next, nil
}

// append writes one record and syncs it. A failed write is cut off again
// so the log stays readable; if even that fails, the log is broken and
// refuses further appends.
func (w *wal) append(lsn uint64, payload []byte) error {
	if w.broken != nil {
		return w.broken
	}
	if w.f == nil || w.size >= walSegmentSize {
		if err := w.rotate(lsn); err != nil {
			return err
		}
	}
	w.buf = appendRecord(w.buf[:0], lsn, payload)
	if end := w.size + int64(len(w.buf)); end > w.alloc {
		if err := w.grow(end); err != nil {
			return err
		}
	}
	if _, err := w.f.WriteAt(w.buf, w.size); err != nil {
		// Put the zeros back, so the failed record cannot be read.
		if _, zerr := w.f.WriteAt(make([]byte, len(w.buf)), w.size); zerr != nil {
			w.broken = fmt.Errorf("write-ahead log: %w (and clearing the failed write: %v); restart the hub", err, zerr)
		}
		return err
	}
	if err := fdatasync(w.f); err != nil {
		// After a failed sync the kernel may have dropped the pages: what
		// is on disk is unknown, so stop (the next open replays what is).
		w.broken = fmt.Errorf("write-ahead log: sync failed: %w; restart the hub", err)
		return w.broken
	}
	w.size += int64(len(w.buf))
	return nil
}

// walGrowStep is how much zeroed space the log adds at a time.
const walGrowStep = 1 << 20

// grow writes zeros from alloc to past end. They are synced with the next
// record; a crash before that leaves zeros or a short file, both read as
// the end of the log.
func (w *wal) grow(end int64) error {
	if w.zeros == nil {
		w.zeros = make([]byte, walGrowStep)
	}
	for w.alloc < end {
		if _, err := w.f.WriteAt(w.zeros, w.alloc); err != nil {
			if terr := w.f.Truncate(w.alloc); terr != nil {
				w.broken = fmt.Errorf("write-ahead log: %w (and cutting off the failed write: %v); restart the hub", err, terr)
			}
			return err
		}
		startWriteback(w.f, w.alloc, walGrowStep)
		w.alloc += walGrowStep
	}
	return nil
}

// rotate starts a new segment whose first record is lsn.
func (w *wal) rotate(lsn uint64) error {
	if err := os.MkdirAll(w.dir, 0o700); err != nil {
		return err
	}
	p := filepath.Join(w.dir, fmt.Sprintf("%016x%s", lsn, walSuffix))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(appendSegmentHeader(nil, lsn))
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(w.dir)
	}
	if err != nil {
		f.Close()
		os.Remove(p)
		return err
	}
	if w.f != nil {
		w.f.Close()
	}
	w.f, w.size, w.alloc = f, segmentHeaderSize, segmentHeaderSize
	w.segs = append(w.segs, segment{path: p, first: lsn})
	return nil
}

// dropApplied deletes the segments (other than the open one) whose
// records are all applied to bbolt, i.e. numbered at most applied.
func (w *wal) dropApplied(applied uint64) error {
	n := 0
	for n < len(w.segs)-1 && w.segs[n+1].first <= applied+1 {
		if err := os.Remove(w.segs[n].path); err != nil && !errors.Is(err, os.ErrNotExist) {
			break
		}
		n++
	}
	if n == 0 {
		return nil
	}
	w.segs = append(w.segs[:0], w.segs[n:]...)
	return syncDir(w.dir)
}

// close closes the open segment and, if every record is applied, deletes
// the whole log.
func (w *wal) close(allApplied bool) error {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if !allApplied || w.broken != nil {
		return nil
	}
	return removeLogFiles(w.dir)
}

// removeLogFiles deletes the segments of the log at dir and the directory.
func removeLogFiles(dir string) error {
	segs, err := listSegments(dir)
	if err != nil {
		return err
	}
	for _, sg := range segs {
		if err := os.Remove(sg.path); err != nil {
			return err
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(dir))
}
