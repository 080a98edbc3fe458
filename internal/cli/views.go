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
