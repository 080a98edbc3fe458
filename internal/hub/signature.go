package hub

import "crypto/sha256"

// checkSignature checks the XML-DSig of the packet kept in body sum.
func (h *Hub) checkSignature(sum string, size int64) SignatureCheck {
	return SignatureCheck{State: SignatureUnverifiable, Reason: "not checked yet"}
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
