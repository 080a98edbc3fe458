package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

func TestProtoJSON(t *testing.T) {
	created := time.Date(2025, 9, 30, 8, 15, 0, 500, time.FixedZone("ICT", 7*3600))
	sum := bytes.Repeat([]byte{0xab, 0x01}, 16)
	tests := []struct {
		name string
		m    proto.Message
		want string
	}{
		{
			name: "document: int64 as a number, the digest in hex, the enum as a word, empty lists, no unset message",
			m: &ndxpv1.Document{Id: "01J9Z3Q8M4K2V7X5W6T1R0S9PA", SenderCode: "000.00.00.G22", CreateTime: timestamppb.New(created),
				Header: &ndxpv1.DocumentHeader{Subject: "Về việc <triển khai> & báo cáo", Priority: 1, BusinessType: ndxpv1.BusinessType_BUSINESS_TYPE_NEW,
					Attachments: []*ndxpv1.AttachmentInfo{{Name: "quyet-dinh.pdf", MediaType: "application/pdf", Size: 5 << 30, Sha256: sum}}}},
			want: `{
  "id": "01J9Z3Q8M4K2V7X5W6T1R0S9PA",
  "sender_code": "000.00.00.G22",
  "sender_name": "",
  "header": {
    "reference": "",
    "recipients": [],
    "number": "",
    "notation": "",
    "document_type": "",
    "subject": "Về việc <triển khai> & báo cáo",
    "content": "",
    "promulgation_place": "",
    "promulgation_date": "",
    "priority": 1,
    "due_date": "",
    "steering_type": 0,
    "to_places": [],
    "response_for": "",
    "business_type": "new",
    "original_document_id": "",
    "attachments": [
      {
        "name": "quyet-dinh.pdf",
        "media_type": "application/pdf",
        "size": 5368709120,
        "sha256": "ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01ab01",
        "description": "",
        "content": ""
      }
    ]
  },
  "create_time": "2025-09-30T01:15:00.0000005Z",
  "recalled": false
}
`,
		},
		{
			name: "a oneof: only the member set",
			m:    &ndxpv1.SubscribeResponse{Message: &ndxpv1.SubscribeResponse_CaughtUp{CaughtUp: &ndxpv1.CaughtUp{}}},
			want: "{\n  \"caught_up\": {}\n}\n",
		},
		{
			name: "uint64, an enum value newer than the tool",
			m:    &ndxpv1.Event{Sequence: 1 << 60, Kind: ndxpv1.EventKind(99)},
			want: "{\n  \"sequence\": 1152921504606846976,\n  \"kind\": 99,\n  \"document_id\": \"\",\n  \"reason\": \"\",\n  \"redelivery\": false\n}\n",
		},
		{
			name: "bytes that are not a digest stay base64",
			m:    &ndxpv1.AttachmentInfo{Name: "a.txt", Content: []byte("hi")},
			want: `"content": "aGk="`,
		},
		{
			name: "the zero enum value",
			m:    &ndxpv1.Agency{Code: "000.00.00.H41"},
			want: "\"stage\": \"unspecified\"",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := ProtoJSON(&out, tt.m); err != nil {
				t.Fatal(err)
			}
			got := out.String()
			if strings.HasPrefix(tt.want, "{") && got != tt.want || !strings.Contains(got, tt.want) {
				t.Errorf("ProtoJSON =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestEnumWord(t *testing.T) {
	for v, want := range map[ndxpv1.Stage]string{ndxpv1.Stage_STAGE_PENDING: "pending", ndxpv1.Stage_STAGE_PILOT: "pilot",
		ndxpv1.Stage_STAGE_PRODUCTION: "production", ndxpv1.Stage_STAGE_UNSPECIFIED: "unspecified"} {
		ed := v.Descriptor()
		if got := EnumWord(ed, ed.Values().ByNumber(v.Number())); got != want || got != StageName(v) {
			t.Errorf("EnumWord(%v) = %q; want %q, as StageName", v, got, want)
		}
	}
	ed := ndxpv1.EventKind_EVENT_KIND_DOCUMENT_ARRIVED.Descriptor()
	if got := EnumWord(ed, ed.Values().ByName("EVENT_KIND_DOCUMENT_ARRIVED")); got != "document_arrived" {
		t.Errorf("EnumWord(EVENT_KIND_DOCUMENT_ARRIVED) = %q; want document_arrived", got)
	}
}
