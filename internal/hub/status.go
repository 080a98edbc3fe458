package hub

import "fmt"

// Status is a processing status code of QCVN 102:2016, as the two digits
// the standard writes (docs/domain.md). Codes 07-12 and 14 are not confirmed by
// any public source, so the hub names and accepts none of them.
type Status string

// The statuses. StatusNone is a delivery whose arrival is not yet
// acknowledged.
const (
	StatusNone           Status = ""
	StatusArrived        Status = "01" // recorded by the hub when the recipient acknowledges the arrival
	StatusRefused        Status = "02" // refused on receipt; needs a reason; final
	StatusAccepted       Status = "03"
	StatusAssigned       Status = "04"
	StatusProcessing     Status = "05"
	StatusCompleted      Status = "06" // final
	StatusRecall         Status = "13" // requested by the sender (Recall)
	StatusRecallAccepted Status = "15"
	StatusRecallRefused  Status = "16" // needs a reason
)

var statusText = map[Status]string{
	StatusArrived: "arrived", StatusRefused: "refused", StatusAccepted: "accepted",
	StatusAssigned: "assigned", StatusProcessing: "processing", StatusCompleted: "completed",
	StatusRecall: "recall requested", StatusRecallAccepted: "recall accepted", StatusRecallRefused: "recall refused",
}

// Text is the status in words ("" for a code the hub does not know).
func (s Status) Text() string { return statusText[s] }

// Known reports whether s is one of the statuses above (not StatusNone).
func (s Status) Known() bool { return statusText[s] != "" }

func (s Status) describe() string {
	if s == StatusNone {
		return "none (arrival not yet acknowledged)"
	}
	return string(s) + " (" + s.Text() + ")"
}

// RecallState is where a recall stands at one recipient: a recall status
// it answered or was asked, or RecallWithdrawn when the recall took the
// document before the recipient did.
type RecallState string

// The recall states.
const (
	RecallNone      RecallState = ""
	RecallAsked     RecallState = RecallState(StatusRecall)
	RecallAccepted  RecallState = RecallState(StatusRecallAccepted)
	RecallRefused   RecallState = RecallState(StatusRecallRefused)
	RecallWithdrawn RecallState = "withdrawn"
)

// forward is the order of the statuses a recipient moves through; 02
// follows 01 only, and 02 and 06 are final.
var forward = map[Status]int{StatusArrived: 1, StatusAccepted: 3, StatusAssigned: 4, StatusProcessing: 5, StatusCompleted: 6}

// checkReport says whether a recipient may report code, and why not: the
// status a recipient reports (02-06, 15, 16), its reason, and the
// workflow of docs/domain.md from where its delivery stands (status, recall).
// It is pure, so the whole workflow is one table test.
func checkReport(status Status, recall RecallState, code Status, reason string) error {
	switch code {
	case StatusRefused, StatusAccepted, StatusAssigned, StatusProcessing, StatusCompleted, StatusRecallAccepted, StatusRecallRefused:
	case StatusArrived:
		return invalid("code", "01 (arrived) is recorded by the hub when the recipient acknowledges the arrival event")
	case StatusRecall:
		return invalid("code", "13 (recall) is requested by the sender with RecallDocument")
	default:
		return invalid("code", "unknown status code %q (want 02, 03, 04, 05, 06, 15 or 16)", string(code))
	}
	if (code == StatusRefused || code == StatusRecallRefused) && reason == "" {
		return invalid("reason", "status %s needs a reason", code.describe())
	}
	no := func(format string, args ...any) error {
		return newErr(ErrPrecondition, "code", "status %s not allowed: the current status is %s; %s", string(code), status.describe(), fmt.Sprintf(format, args...))
	}
	if code == StatusRecallAccepted || code == StatusRecallRefused {
		switch recall {
		case RecallAsked:
			return nil
		case RecallNone:
			return no("no recall was requested")
		}
		return no("the recall was already answered or withdrawn (%s)", recall)
	}
	switch recall {
	case RecallWithdrawn, RecallAccepted:
		return no("the document was recalled")
	case RecallAsked:
		return no("the sender recalled it: answer the recall first with 15 (accept) or 16 (refuse)")
	}
	switch {
	case status == StatusNone:
		return no("acknowledge the arrival first")
	case status == StatusRefused || status == StatusCompleted:
		return no("%s is final", status)
	case code == StatusRefused && status != StatusArrived:
		return no("02 (refused) is only possible on receipt, right after 01")
	case code != StatusRefused && forward[code] <= forward[status]:
		return no("statuses move forward only")
	}
	return nil
}
