package hub

import (
	"errors"
	"testing"
)

// TestCheckReport is the whole status workflow of docs/domain.md, from every
// place a delivery can stand, for every code a recipient may send.
func TestCheckReport(t *testing.T) {
	ok := error(nil)
	type at struct {
		status Status
		recall RecallState
	}
	// want: for each code reported, nil (allowed), ErrPrecondition (not
	// now) or ErrInvalid (never from a recipient, or missing its reason).
	codes := []Status{"01", "02", "03", "04", "05", "06", "13", "15", "16", "07", "99", ""}
	pre, inv := ErrPrecondition, ErrInvalid
	tests := []struct {
		at   at
		want []error // by codes, in order
	}{
		//                       01   02   03   04   05   06   13   15   16   07   99   ""
		{at{StatusNone, RecallNone}, []error{inv, pre, pre, pre, pre, pre, inv, pre, pre, inv, inv, inv}},
		{at{StatusArrived, RecallNone}, []error{inv, ok, ok, ok, ok, ok, inv, pre, pre, inv, inv, inv}},
		{at{StatusAccepted, RecallNone}, []error{inv, pre, pre, ok, ok, ok, inv, pre, pre, inv, inv, inv}},
		{at{StatusAssigned, RecallNone}, []error{inv, pre, pre, pre, ok, ok, inv, pre, pre, inv, inv, inv}},
		{at{StatusProcessing, RecallNone}, []error{inv, pre, pre, pre, pre, ok, inv, pre, pre, inv, inv, inv}},
		{at{StatusCompleted, RecallNone}, []error{inv, pre, pre, pre, pre, pre, inv, pre, pre, inv, inv, inv}},
		{at{StatusRefused, RecallNone}, []error{inv, pre, pre, pre, pre, pre, inv, pre, pre, inv, inv, inv}},
		// A recall asked: only its answer, even after 06.
		{at{StatusArrived, RecallAsked}, []error{inv, pre, pre, pre, pre, pre, inv, ok, ok, inv, inv, inv}},
		{at{StatusCompleted, RecallAsked}, []error{inv, pre, pre, pre, pre, pre, inv, ok, ok, inv, inv, inv}},
		// Answered or withdrawn: nothing more.
		{at{StatusAccepted, RecallAccepted}, []error{inv, pre, pre, pre, pre, pre, inv, pre, pre, inv, inv, inv}},
		{at{StatusNone, RecallWithdrawn}, []error{inv, pre, pre, pre, pre, pre, inv, pre, pre, inv, inv, inv}},
		// Refused (16): the workflow goes on.
		{at{StatusAccepted, RecallRefused}, []error{inv, pre, pre, ok, ok, ok, inv, pre, pre, inv, inv, inv}},
	}
	for _, tt := range tests {
		for i, code := range codes {
			err := checkReport(tt.at.status, tt.at.recall, code, "lý do")
			if want := tt.want[i]; (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
				t.Errorf("at %q/%q, report %q: %v, want %v", tt.at.status, tt.at.recall, code, err, want)
			}
		}
	}
	// 02 and 16 need a reason; the others do not.
	for _, tt := range []struct {
		at   at
		code Status
		want error
	}{
		{at{StatusArrived, RecallNone}, StatusRefused, inv},
		{at{StatusArrived, RecallAsked}, StatusRecallRefused, inv},
		{at{StatusArrived, RecallNone}, StatusAccepted, ok},
		{at{StatusArrived, RecallAsked}, StatusRecallAccepted, ok},
	} {
		if err := checkReport(tt.at.status, tt.at.recall, tt.code, ""); (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("report %q without a reason at %q/%q: %v, want %v", tt.code, tt.at.status, tt.at.recall, err, tt.want)
		}
	}
}

func TestStatusText(t *testing.T) {
	for code, want := range map[Status]string{"01": "arrived", "06": "completed", "13": "recall requested", "07": "", "": ""} {
		if got := code.Text(); got != want {
			t.Errorf("Status(%q).Text() = %q, want %q", code, got, want)
		}
	}
}
