package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The write-ahead log in front of bbolt.
//
// Each group commit appends one record to the log and syncs it with one
// fdatasync; that is when its callers are answered. The applier copies
// records into bbolt later, many at a time, and stores the last applied
// record's number (LSN) in the same bbolt transaction; segments whose
// records are all applied are then deleted. On open, records after the
// applied LSN are replayed into bbolt.
//
// A segment is a file named by the LSN of its first record (16 hex digits,
// ".wal") in the directory <store file>-wal. It starts with walMagic, then
// records:
//
//	length  uint32 (payload bytes)
//	crc     uint32 (Castagnoli, over lsn and payload)
//	lsn     uint64
//	payload (ops, see encodeOps)
//
// all integers big-endian.

const (
	walMagic      = "NDXPWAL1"
	walHeaderSize = 16
	walSuffix     = ".wal"
	// walSegmentSize: a new segment is started once the current one is
	// larger than this, so applied records can be dropped a file at a time.
	walSegmentSize = 64 << 20
	// walMaxRecord bounds a record's payload: a larger length in a header
	// means the header itself is damaged.
	walMaxRecord = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// LogDir is the directory of the write-ahead log of the store file at
// path. It belongs to that file: moving the file without it loses the
// writes not yet applied, and a log left beside another file is refused
// or, worse, replayed onto it.
func LogDir(path string) string { return path + "-wal" }

type segment struct {
	path  string
	first uint64 // LSN of its first record
}

// wal appends records; only the writer goroutine uses it.
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
		if len(data) < walHeaderSize {
			if last && allZero(data[:min(len(data), len(walMagic))]) {
				continue // created, header not yet on disk
			}
			return nil, fmt.Errorf("%w: log segment %s is too short", ErrCorrupt, filepath.Base(sg.path))
		}
		if string(data[:len(walMagic)]) != walMagic || binary.BigEndian.Uint64(data[8:16]) != sg.first {
			return nil, fmt.Errorf("%w: log segment %s has a bad header", ErrCorrupt, filepath.Base(sg.path))
		}
		next := sg.first
		off := walHeaderSize
		for off < len(data) {
			rest := data[off:]
			if allZero(rest) {
				break // the zeros the segment grew by
			}
			n, ok := 0, false
			if len(rest) >= 16 {
				n = int(binary.BigEndian.Uint32(rest[0:4]))
				ok = n <= walMaxRecord && 16+n <= len(rest) &&
					crc32.Checksum(rest[8:16+n], crcTable) == binary.BigEndian.Uint32(rest[4:8])
			}
			if !ok {
				// A torn tail: the damaged record is the last thing in
				// the last segment (it runs past the end, or only the
				// zeros the log grows by follow it).
				torn := last && (len(rest) < 16 || 16+n > len(rest) || allZero(rest[16+n:]))
				if torn {
					break
				}
				return nil, fmt.Errorf("%w: log segment %s: damaged record at offset %d", ErrCorrupt, filepath.Base(sg.path), off)
			}
			lsn := binary.BigEndian.Uint64(rest[8:16])
			if lsn != next {
				return nil, fmt.Errorf("%w: log segment %s: record %d where %d was expected", ErrCorrupt, filepath.Base(sg.path), lsn, next)
			}
			recs = append(recs, walRecord{lsn: lsn, payload: rest[16 : 16+n]})
			next++
			off += 16 + n
		}
		if !last && segs[i+1].first != next {
			return nil, fmt.Errorf("%w: log segment %s follows record %d", ErrCorrupt, filepath.Base(segs[i+1].path), next-1)
		}
	}
	return recs, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
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
	w.buf = w.buf[:0]
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(payload)))
	w.buf = binary.BigEndian.AppendUint32(w.buf, 0)
	w.buf = binary.BigEndian.AppendUint64(w.buf, lsn)
	w.buf = append(w.buf, payload...)
	binary.BigEndian.PutUint32(w.buf[4:8], crc32.Checksum(w.buf[8:], crcTable))
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
	var hdr [walHeaderSize]byte
	copy(hdr[:], walMagic)
	binary.BigEndian.PutUint64(hdr[8:], lsn)
	_, err = f.Write(hdr[:])
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
	w.f, w.size, w.alloc = f, walHeaderSize, walHeaderSize
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

// Record payloads: a sequence of operations, each
//
//	kind byte ('P' put, 'D' delete, 'S' set sequence)
//	bucket  uvarint length, bytes
//	key     uvarint length, bytes        (P, D)
//	value   uvarint length, bytes        (P)
//	seq     uvarint                      (S)

const (
	opPut byte = 'P'
	opDel byte = 'D'
	opSeq byte = 'S'
)

type op struct {
	kind     byte
	b        Bucket
	key, val []byte
	seq      uint64
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func encodeOps(dst []byte, ops []op) []byte {
	for _, o := range ops {
		dst = append(dst, o.kind)
		dst = binary.AppendUvarint(dst, uint64(len(o.b)))
		dst = append(dst, o.b...)
		switch o.kind {
		case opPut:
			dst = appendBytes(dst, o.key)
			dst = appendBytes(dst, o.val)
		case opDel:
			dst = appendBytes(dst, o.key)
		case opSeq:
			dst = binary.AppendUvarint(dst, o.seq)
		}
	}
	return dst
}

var errBadOps = fmt.Errorf("%w: undecodable log record", ErrCorrupt)

func decodeOps(p []byte) ([]op, error) {
	r := bytes.NewReader(p)
	readBytes := func() ([]byte, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil || n > uint64(r.Len()) {
			return nil, errBadOps
		}
		b := make([]byte, n)
		_, err = io.ReadFull(r, b)
		return b, err
	}
	var ops []op
	for r.Len() > 0 {
		kind, _ := r.ReadByte()
		bn, err := readBytes()
		if err != nil {
			return nil, errBadOps
		}
		o := op{kind: kind, b: Bucket(bn)}
		switch kind {
		case opPut:
			if o.key, err = readBytes(); err == nil {
				o.val, err = readBytes()
			}
		case opDel:
			o.key, err = readBytes()
		case opSeq:
			o.seq, err = binary.ReadUvarint(r)
		default:
			err = errBadOps
		}
		if err != nil {
			return nil, errBadOps
		}
		ops = append(ops, o)
	}
	return ops, nil
}
