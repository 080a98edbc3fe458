package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// OrDash shows an empty value as "-".
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// YesNo shows a flag as "yes" or "no".
func YesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// OneLine replaces tabs and line breaks with spaces, so that a value
// keeps a table row or an output line whole.
func OneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// StageName is the word for a stage used by the CLIs and their JSON.
func StageName(s ndxpv1.Stage) string {
	switch s {
	case ndxpv1.Stage_STAGE_PENDING:
		return "pending"
	case ndxpv1.Stage_STAGE_PILOT:
		return "pilot"
	case ndxpv1.Stage_STAGE_PRODUCTION:
		return "production"
	}
	return "unspecified"
}

// OptTime turns an unset timestamp into nil, for JSON with omitempty.
func OptTime(t *timestamppb.Timestamp) *time.Time {
	if t == nil || !t.IsValid() {
		return nil
	}
	v := t.AsTime()
	return &v
}

// Timestamp formats a timestamp for people; unset is "-".
func Timestamp(t *timestamppb.Timestamp) string {
	if t == nil || !t.IsValid() {
		return "-"
	}
	return Time(t.AsTime())
}

// StatusLine renders a recipient's status: "06 completed (recall 15)", or "-".
func StatusLine(r *ndxpv1.RecipientTrace) string {
	s := "-"
	if r.GetStatus() != "" {
		s = strings.TrimSpace(r.GetStatus() + " " + r.GetStatusText())
	}
	if r.GetRecall() != "" {
		s += " (recall " + r.GetRecall() + ")"
	}
	return s
}

// SignatureState is the word for a packet's signature check in the CLIs
// and their JSON: "absent", "valid", "invalid", "unverifiable"
// ("unspecified" for a document that did not arrive as a packet).
func SignatureState(s ndxpv1.SignatureState) string {
	return EnumWord(s.Descriptor(), s.Descriptor().Values().ByNumber(s.Number()))
}

// PacketFields are the lines of a document view that say it arrived as an
// edXML packet, its size, and what the check of the packet's signature
// found: the state with its reason, the signer's certificate subject and
// whether it chains to the hub's edXML trust store. None for a document
// sent natively.
func PacketFields(p *ndxpv1.PacketInfo) [][2]string {
	if p == nil {
		return nil
	}
	sum := fmt.Sprintf("%x", p.GetSha256())
	if len(sum) > 16 {
		sum = sum[:16] + "…"
	}
	kv := [][2]string{{"Arrived as", "edXML packet, " + FormatBytes(p.GetSize()) + ", SHA-256 " + OrDash(sum)}}
	s := p.GetSignature()
	state := SignatureState(s.GetState())
	if s.GetReason() != "" {
		state += ": " + OneLine(s.GetReason())
	}
	kv = append(kv, [2]string{"Signature", state})
	if s.GetSubject() != "" {
		kv = append(kv, [2]string{"Signed by", OneLine(s.GetSubject())})
	}
	if s.GetSubject() != "" || s.GetState() == ndxpv1.SignatureState_SIGNATURE_STATE_VALID {
		kv = append(kv, [2]string{"Trusted signer", YesNo(s.GetTrusted())})
	}
	return kv
}

// PrintTrace writes a document's trace for people: the document, then
// each visible recipient with its status and every step in order.
func PrintTrace(w io.Writer, tr *ndxpv1.GetTraceResponse) error {
	d := tr.GetDocument()
	h := d.GetHeader()
	kv := [][2]string{
		{"Document", d.GetId()},
		{"Reference", OrDash(h.GetReference())},
		{"From", strings.TrimSpace(d.GetSenderCode() + " " + d.GetSenderName())},
		{"Subject", OneLine(h.GetSubject())},
		{"Created", Timestamp(d.GetCreateTime())},
	}
	if d.GetRecalled() {
		kv = append(kv, [2]string{"Recalled", "yes"})
	}
	kv = append(kv, PacketFields(d.GetPacket())...)
	if err := Fields(w, kv); err != nil {
		return err
	}
	for _, r := range tr.GetRecipients() {
		fmt.Fprintln(w)
		rkv := [][2]string{
			{"Recipient", strings.TrimSpace(r.GetRecipientCode() + " " + r.GetRecipientName())},
			{"Status", StatusLine(r)},
			{"Recall", OrDash(r.GetRecall())},
			{"Delivered", Timestamp(r.GetDeliverTime())},
		}
		if err := Fields(w, rkv); err != nil {
			return err
		}
		rows := make([][]string, 0, len(r.GetSteps()))
		for _, s := range r.GetSteps() {
			reason := s.GetReason()
			if s.GetStaff() != "" {
				reason = strings.TrimSpace(reason + " [" + s.GetStaff() + "]")
			}
			rows = append(rows, []string{"  " + Timestamp(s.GetTime()), OrDash(s.GetCode()), OneLine(s.GetDescription()), OrDash(OneLine(reason))})
		}
		if len(rows) > 0 {
			if err := Table(w, []string{"  TIME", "CODE", "DESCRIPTION", "REASON"}, rows); err != nil {
				return err
			}
		}
	}
	return nil
}
