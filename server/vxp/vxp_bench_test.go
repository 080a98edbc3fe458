package vxp_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/ndxp/ndxp/internal/edxml/edxmltest"
)

// BenchmarkSendEdocLarge sends a packet with one large attachment
// (NDXP_BENCH_PACKET_MB mebibytes, 64 if unset) through sendEdoc, as the
// SDK does, to a real hub in this process, and reports the peak growth of
// the process's resident set (client and hub together): the body is
// spooled to a file while hashed, then read into the hub, never held.
func BenchmarkSendEdocLarge(b *testing.B) {
	if edxmltest.RSS() == 0 {
		b.Skip("no resident set size to read here (/proc/self/statm)")
	}
	f := startFixture(b)
	size := edxmltest.BenchSize(b, "NDXP_BENCH_PACKET_MB", 64)
	b.SetBytes(size)
	b.ReportAllocs()
	var peak float64
	n := 0
	for b.Loop() {
		n++
		number := fmt.Sprintf("%d/BENCH", n)
		h := sha256.New()
		if _, err := io.Copy(h, edxmltest.NewLarge(codeG22, codeH41, number, size)); err != nil {
			b.Fatal(err)
		}
		var sum strings.Builder
		for _, c := range h.Sum(nil) {
			sum.WriteString(strconv.FormatUint(uint64(c), 16))
		}
		var r reply
		peak = max(peak, edxmltest.PeakMiB(edxmltest.RSS, func() {
			r = f.sys.call("sendEdoc", map[string]string{"from": codeG22, "servicetype": "eDoc", "messagetype": "edoc", "hash-file": sum.String()},
				edxmltest.NewLarge(codeG22, codeH41, number, size), "application/octet-stream")
		}))
		if r.Status != "OK" {
			b.Fatalf("sendEdoc: %s %s", r.ErrorCode, r.ErrorDesc)
		}
	}
	b.ReportMetric(peak, "peak-rss-MiB")
}
