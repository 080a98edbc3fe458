package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// The write-ahead log's format on disk.
//
// A segment is a file named by the LSN of its first record (16 hex digits,
// ".wal") in LogDir. It starts with a segment header, then records; all
// integers are big-endian:
//
//	segment header  magic "NDXPWAL1" (8 bytes), first record's LSN uint64
//	record header   payload length uint32, crc uint32 (Castagnoli, over
//	                the LSN and the payload), LSN uint64
//	payload         operations (see encodeOps)

const (
	walMagic = "NDXPWAL1"
	// segmentHeaderSize is the bytes before a segment's first record: the
	// magic (8) and that record's LSN (8).
	segmentHeaderSize = 16
	// recordHeaderSize is the bytes before a record's payload: its length
	// (4), its CRC (4) and its LSN (8).
	recordHeaderSize = 16
	// walMaxRecord bounds a record's payload: a larger length in a header
	// means the header itself is damaged.
	walMaxRecord = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// appendSegmentHeader appends the header of a segment whose first record is first.
func appendSegmentHeader(dst []byte, first uint64) []byte {
	dst = append(dst, walMagic...)
	return binary.BigEndian.AppendUint64(dst, first)
}

// validSegmentHeader reports whether data starts with the header of a
// segment whose first record is first.
func validSegmentHeader(data []byte, first uint64) bool {
	return len(data) >= segmentHeaderSize && string(data[:len(walMagic)]) == walMagic &&
		binary.BigEndian.Uint64(data[len(walMagic):segmentHeaderSize]) == first
}

// appendRecord appends record lsn, header and payload, to dst.
func appendRecord(dst []byte, lsn uint64, payload []byte) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.BigEndian.AppendUint32(dst, 0)
	dst = binary.BigEndian.AppendUint64(dst, lsn)
	dst = append(dst, payload...)
	binary.BigEndian.PutUint32(dst[start+4:start+8], crc32.Checksum(dst[start+8:], crcTable))
	return dst
}

// parseRecord reads the record at the start of b. ok is false if it is cut
// short or damaged; the payload is a slice of b.
func parseRecord(b []byte) (lsn uint64, payload []byte, ok bool) {
	if len(b) < recordHeaderSize {
		return 0, nil, false
	}
	n := int(binary.BigEndian.Uint32(b[0:4]))
	end := recordHeaderSize + n
	if n > walMaxRecord || end > len(b) || crc32.Checksum(b[8:end], crcTable) != binary.BigEndian.Uint32(b[4:8]) {
		return 0, nil, false
	}
	return binary.BigEndian.Uint64(b[8:16]), b[recordHeaderSize:end], true
}

// tornRecord reports whether a record that parseRecord refused at the
// start of b is the kind a crash during its write leaves at the end of the
// log: it runs past the end of b, or only the zeros the log grows by
// follow it.
func tornRecord(b []byte) bool {
	if len(b) < recordHeaderSize {
		return true
	}
	end := recordHeaderSize + int(binary.BigEndian.Uint32(b[0:4]))
	return end > len(b) || allZero(b[end:])
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
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
