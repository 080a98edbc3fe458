package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// numberText renders số/ký hiệu as written on the document: "7816/VPCP-TTĐT".
func numberText(h *ndxpv1.DocumentHeader) string {
	switch {
	case h.GetNumber() == "" && h.GetNotation() == "":
		return "-"
	case h.GetNotation() == "":
		return h.GetNumber()
	}
	return h.GetNumber() + "/" + h.GetNotation()
}

var priorityNames = []string{"normal", "urgent", "very urgent", "flash"}

func priorityText(p int32) string {
	if p >= 0 && int(p) < len(priorityNames) {
		return fmt.Sprintf("%d (%s)", p, priorityNames[p])
	}
	return fmt.Sprint(p)
}

func businessText(b ndxpv1.BusinessType) string {
	switch b {
	case ndxpv1.BusinessType_BUSINESS_TYPE_UNSPECIFIED, ndxpv1.BusinessType_BUSINESS_TYPE_NEW:
		return "new"
	case ndxpv1.BusinessType_BUSINESS_TYPE_REVOKE:
		return "revoke"
	case ndxpv1.BusinessType_BUSINESS_TYPE_UPDATE:
		return "update"
	case ndxpv1.BusinessType_BUSINESS_TYPE_REPLACE:
		return "replace"
	}
	return b.String()
}

// statusSummary renders the statuses of several recipients compactly:
// "06" when all agree, else counts per code, "01:2 06:1".
func statusSummary(rs []*ndxpv1.RecipientTrace) string {
	if len(rs) == 1 {
		return cli.StatusLine(rs[0])
	}
	counts := map[string]int{}
	for _, r := range rs {
		code := r.GetStatus()
		if code == "" {
			code = "-"
		}
		counts[code]++
	}
	if len(counts) == 1 {
		for code := range counts {
			return code
		}
	}
	codes := make([]string, 0, len(counts))
	for code := range counts {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	parts := make([]string, len(codes))
	for i, code := range codes {
		parts[i] = fmt.Sprintf("%s:%d", code, counts[code])
	}
	return strings.Join(parts, " ")
}

// recipientsText renders a recipient list for a table cell: the first
// code and how many more.
func recipientsText(codes []string) string {
	switch len(codes) {
	case 0:
		return "-"
	case 1:
		return codes[0]
	}
	return fmt.Sprintf("%s +%d", codes[0], len(codes)-1)
}

// summaryView is the JSON shape of a line of `ndxp inbox` and `ndxp sent`.
type summaryView struct {
	DocumentID string          `json:"document_id"`
	Reference  string          `json:"reference"`
	From       string          `json:"from"`
	FromName   string          `json:"from_name,omitempty"`
	To         []string        `json:"to"`
	Number     string          `json:"number,omitempty"`
	Notation   string          `json:"notation,omitempty"`
	Type       string          `json:"document_type,omitempty"`
	Subject    string          `json:"subject"`
	Priority   int32           `json:"priority"`
	Recalled   bool            `json:"recalled"`
	Created    *time.Time      `json:"created,omitempty"`
	Recipients []recipientView `json:"recipients"`
}

type recipientView struct {
	Code       string `json:"recipient_code"`
	Status     string `json:"status"`
	StatusText string `json:"status_text,omitempty"`
	Recall     string `json:"recall,omitempty"`
}

func viewSummary(s *ndxpv1.DocumentSummary) summaryView {
	d, h := s.GetDocument(), s.GetDocument().GetHeader()
	v := summaryView{
		DocumentID: d.GetId(), Reference: h.GetReference(), From: d.GetSenderCode(), FromName: d.GetSenderName(),
		To: h.GetRecipients(), Number: h.GetNumber(), Notation: h.GetNotation(), Type: h.GetDocumentType(),
		Subject: h.GetSubject(), Priority: h.GetPriority(), Recalled: d.GetRecalled(), Created: cli.OptTime(d.GetCreateTime()),
		Recipients: []recipientView{},
	}
	if v.To == nil {
		v.To = []string{}
	}
	for _, r := range s.GetRecipients() {
		v.Recipients = append(v.Recipients, recipientView{Code: r.GetRecipientCode(), Status: r.GetStatus(),
			StatusText: r.GetStatusText(), Recall: r.GetRecall()})
	}
	return v
}

var summaryHeader = []string{"ID", "", "NUMBER", "SUBJECT", "STATUS", "TIME"}

// summaryRow is a table row; sent rows show recipients, inbox rows the sender.
func summaryRow(s *ndxpv1.DocumentSummary, sent bool) []string {
	d, h := s.GetDocument(), s.GetDocument().GetHeader()
	who := d.GetSenderCode()
	status := "-"
	if sent {
		who = recipientsText(h.GetRecipients())
	}
	if rs := s.GetRecipients(); len(rs) > 0 {
		status = statusSummary(rs)
	}
	if d.GetRecalled() {
		status += " recalled"
	}
	return []string{d.GetId(), who, numberText(h), cli.OneLine(clip(h.GetSubject(), 60)), status, cli.Timestamp(d.GetCreateTime())}
}

// clip shortens s to at most n runes for a table cell.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
