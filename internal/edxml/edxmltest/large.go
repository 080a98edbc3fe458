package edxmltest

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
)

const (
	largeHead = `<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">
  <edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
    <edXML:edXMLHeader>
      <edXML:MessageHeader>
        <From><OrganId>%[1]s</OrganId></From>
        <To><OrganId>%[2]s</OrganId></To>
        <DocumentId>%[1]s,2024/01/02,%[3]s</DocumentId>
        <Subject>large</Subject>
      </edXML:MessageHeader>
    </edXML:edXMLHeader>
    <edXML:edXMLBody>
      <edXML:edXMLManifest version="1.0">
        <edXML:Reference><ContentId>cid:big</ContentId><ContentType>application/pdf</ContentType><AttachmentName>big.pdf</AttachmentName></edXML:Reference>
      </edXML:edXMLManifest>
    </edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <AttachmentEncoded>
    <Attachment>
      <ContentId>cid:big</ContentId>
      <AttachmentName>big.pdf</AttachmentName>
      <ContentType>application/pdf</ContentType>
      <edXML:ContentTransferEncoded xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">`
	largeTail = `</edXML:ContentTransferEncoded>
    </Attachment>
  </AttachmentEncoded>
</edXML>
`
)

// Large produces a packet with one attachment of size pseudo-random
// bytes, base64 in lines of 76, without ever holding it: the head, the
// base64 chunk by chunk, the tail. Its Sum is the attachment's SHA-256
// once it is read.
type Large struct {
	size    int64 // attachment bytes yet to produce
	src     *rand.ChaCha8
	h       hash.Hash
	raw     []byte
	coded   []byte
	enc     []byte
	pending []byte
	phase   int
	lines   bool
}

// NewLarge returns a packet from one agency to another, numbered number,
// with one attachment of size bytes.
func NewLarge(from, to, number string, size int64) *Large {
	return &Large{
		size:    size,
		src:     rand.NewChaCha8([32]byte{1, 2, 3}),
		h:       sha256.New(),
		raw:     make([]byte, 57*1024),
		coded:   make([]byte, 76*1024),
		enc:     make([]byte, 0, 77*1024),
		pending: []byte(fmt.Sprintf(largeHead, from, to, number)),
	}
}

func (g *Large) Read(p []byte) (int, error) {
	for len(g.pending) == 0 {
		switch {
		case g.phase == 0 && g.size > 0:
			raw := g.raw[:min(int64(len(g.raw)), g.size)]
			g.src.Read(raw)
			g.h.Write(raw)
			g.size -= int64(len(raw))
			n := base64.StdEncoding.EncodedLen(len(raw))
			base64.StdEncoding.Encode(g.coded[:n], raw)
			g.enc = g.enc[:0]
			for s := g.coded[:n]; len(s) > 0; {
				l := min(76, len(s))
				if g.lines {
					g.enc = append(g.enc, '\n')
				}
				g.lines = true
				g.enc = append(g.enc, s[:l]...)
				s = s[l:]
			}
			g.pending = g.enc
		case g.phase == 0:
			g.phase = 1
			g.pending = []byte(largeTail)
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

// Sum is the SHA-256 of the attachment's bytes produced so far.
func (g *Large) Sum() []byte { return g.h.Sum(nil) }
