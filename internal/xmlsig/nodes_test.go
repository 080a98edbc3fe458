package xmlsig

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/ndxp/ndxp/internal/edxml/edxmltest"
)

// TestManyNodesNotVerifiedInMemory: a packet within MaxBytes whose payload
// is cut into tiny CDATA sections is a DOM node per 16 bytes; verifying it
// held 17 times the packet (268 MiB for 16 MiB), not the documented 5. It
// is Unverifiable, and nothing near that is held.
func TestManyNodesNotVerifiedInMemory(t *testing.T) {
	signed, err := os.ReadFile("testdata/signed-rsa-sha1-crlf.xml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(signed)
	i := strings.Index(s, "ContentTransferEncoded>") + len("ContentTransferEncoded>")
	j := i + strings.Index(s[i:], "<")
	pk := []byte(s[:i] + strings.Repeat("<![CDATA[AAAA]]>", (16<<20)/16) + s[j:])
	var res Result
	peak := edxmltest.PeakMiB(edxmltest.HeapInUse, func() { res = Verify(bytes.NewReader(pk), int64(len(pk)), Options{MaxBytes: 32 << 20}) })
	if res.State != Unverifiable || !strings.Contains(res.Reason, "XML nodes, over the") {
		t.Errorf("Verify = %v %q, want Unverifiable for too many nodes", res.State, res.Reason)
	}
	if peak > 5*16 {
		t.Errorf("verifying a 16 MiB packet held %.0f MiB", peak)
	}
}
