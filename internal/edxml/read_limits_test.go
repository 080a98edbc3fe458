package edxml

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// A packet of many sibling elements is read in time linear in its size:
// numbering siblings by walking the ones before made 100,000 empty
// elements (400 KB) take 20 s of CPU.
func TestReadManySiblingsLinear(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`<edXML xmlns="` + Namespace + `">`)
	for range 200000 {
		b.WriteString("<a/>")
	}
	b.WriteString("</edXML>")
	start := time.Now()
	_, err := Read(bytes.NewReader(b.Bytes()), nil, ReadOptions{})
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("Read = %v, want a refusal (*Error)", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("200,000 siblings took %v to read", d)
	}
}
