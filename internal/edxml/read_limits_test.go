package edxml

import (
	"bytes"
	"errors"
	"strings"
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

// Attributes count against MaxMarkupBytes for what they cost to hold, not
// their bytes: a="" is 5 bytes but an xml.Attr of 48, so tags full of them
// held ~20 times the markup bound.
func TestReadAttributesChargedToMarkup(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`<edXML xmlns="` + Namespace + `">`)
	tag := "<a " + strings.Repeat(`b="" `, (1<<20-10)/5) + "/>" // within MaxHeaderBytes
	for range 4 {
		b.WriteString(tag)
	}
	b.WriteString("</edXML>")
	_, err := Read(bytes.NewReader(b.Bytes()), nil, ReadOptions{MaxMarkupBytes: 8 << 20})
	var pe *Error
	if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "bytes of markup") {
		t.Fatalf("4 MiB of tags holding 800,000 attributes: Read = %v, want refused as too much markup", err)
	}
}
