package hub

import (
	"crypto/sha256"

	"github.com/ndxp/ndxp/internal/xmlsig"
)

// signatureStates maps the check's states to the hub's.
var signatureStates = map[xmlsig.State]SignatureState{
	xmlsig.Absent:       SignatureAbsent,
	xmlsig.Valid:        SignatureValid,
	xmlsig.Invalid:      SignatureInvalid,
	xmlsig.Unverifiable: SignatureUnverifiable,
}

// checkSignature checks the XML-DSig of the packet kept in body sum
// (docs/edxml.md): the result is recorded with the document, and refuses
// the packet only when the hub is configured so.
func (h *Hub) checkSignature(sum string, size int64) SignatureCheck {
	f, err := h.bodies.open(sum)
	if err != nil {
		return SignatureCheck{State: SignatureUnverifiable, Reason: "the packet's file cannot be read: " + err.Error()}
	}
	defer f.Close()
	r := xmlsig.Verify(f, size, xmlsig.Options{MaxBytes: h.cfg.PacketSignatureMax, Roots: h.cfg.PacketTrust, Now: h.cfg.Now})
	return SignatureCheck{State: signatureStates[r.State], Subject: r.Subject, Reason: r.Reason, Trusted: r.Trusted}
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
