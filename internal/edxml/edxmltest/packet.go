// Package edxmltest builds edXML packets for tests (docs/edxml.md).
package edxmltest

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// PacketAttachment is an attachment of a test packet.
type PacketAttachment struct {
	Name, ContentType string
	Data              []byte
}

// Packet returns a small edXML document packet (docs/edxml.md) from one
// agency to another, numbered number/KTQ's way ("3/KTQ" gives CodeNumber
// 3 and CodeNotation KTQ), with the attachments given.
func Packet(from, to, subject, number string, atts ...PacketAttachment) string {
	num, notation, _ := strings.Cut(number, "/")
	docID := fmt.Sprintf("%s,2026/12/01,%s", from, number)
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">
<edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
<edXML:edXMLHeader>
<edXML:MessageHeader>
<edXML:From><edXML:OrganId>%s</edXML:OrganId><edXML:OrganName>Bên gửi</edXML:OrganName></edXML:From>
<edXML:To><edXML:OrganId>%s</edXML:OrganId><edXML:OrganName>Bên nhận</edXML:OrganName></edXML:To>
<edXML:DocumentId>%s</edXML:DocumentId>
<edXML:Code><edXML:CodeNumber>%s</edXML:CodeNumber><edXML:CodeNotation>%s</edXML:CodeNotation></edXML:Code>
<edXML:PromulgationInfo><edXML:Place>Hà Nội</edXML:Place><edXML:PromulgationDate>2026/12/01</edXML:PromulgationDate></edXML:PromulgationInfo>
<edXML:DocumentType><edXML:Type>1</edXML:Type><edXML:TypeDetail>0</edXML:TypeDetail><edXML:TypeName>Công văn</edXML:TypeName></edXML:DocumentType>
<edXML:Subject>%s</edXML:Subject>
<edXML:Content></edXML:Content>
<edXML:SignerInfo><edXML:Competence>KT. Bộ trưởng</edXML:Competence><edXML:Position>Thứ trưởng</edXML:Position><edXML:FullName>Nguyễn Văn A</edXML:FullName></edXML:SignerInfo>
<edXML:OtherInfo><edXML:Priority>0</edXML:Priority><edXML:PromulgationAmount>1</edXML:PromulgationAmount><edXML:PageAmount>1</edXML:PageAmount></edXML:OtherInfo>
<edXML:SteeringType>0</edXML:SteeringType>
</edXML:MessageHeader>
<edXML:TraceHeaderList>
<edXML:TraceHeader><edXML:OrganId>%s</edXML:OrganId><edXML:Timestamp>2026/12/01 08:00:00</edXML:Timestamp></edXML:TraceHeader>
<edXML:Bussiness><edXML:BussinessDocType>0</edXML:BussinessDocType><edXML:BussinessDocReason></edXML:BussinessDocReason><edXML:Paper>0</edXML:Paper></edXML:Bussiness>
</edXML:TraceHeaderList>
</edXML:edXMLHeader>
<edXML:edXMLBody><edXML:edXMLManifest version="1.0">
`, from, to, docID, num, notation, subject, from)
	for i, a := range atts {
		fmt.Fprintf(&b, "<edXML:Reference><edXML:ContentId>cid:%d</edXML:ContentId><edXML:ContentType>%s</edXML:ContentType><edXML:AttachmentName>%s</edXML:AttachmentName></edXML:Reference>\n", i+1, a.ContentType, a.Name)
	}
	b.WriteString("</edXML:edXMLManifest></edXML:edXMLBody>\n</edXML:edXMLEnvelope>\n<AttachmentEncoded>\n")
	for i, a := range atts {
		fmt.Fprintf(&b, "<Attachment><ContentId>cid:%d</ContentId><AttachmentName>%s</AttachmentName><ContentType>%s</ContentType><edXML:ContentTransferEncoded xmlns:edXML=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\">%s</edXML:ContentTransferEncoded></Attachment>\n",
			i+1, a.Name, a.ContentType, base64.StdEncoding.EncodeToString(a.Data))
	}
	b.WriteString("</AttachmentEncoded>\n</edXML>\n")
	return b.String()
}

// StatusPacket returns an edXML status packet from agency from on the
// document docID that sender sent.
func StatusPacket(from, sender, docID, code, description string) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">
<edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
<edXML:edXMLHeader>
<edXML:MessageHeader>
<edXML:From><edXML:OrganId>%s</edXML:OrganId></edXML:From>
<edXML:ResponseFor><edXML:OrganId>%s</edXML:OrganId><edXML:Code></edXML:Code><edXML:PromulgationDate>2026/12/01</edXML:PromulgationDate><edXML:DocumentId>%s</edXML:DocumentId></edXML:ResponseFor>
<edXML:StaffInfo><edXML:Department>Văn thư</edXML:Department><edXML:Staff>Trần Thị B</edXML:Staff><edXML:Mobile></edXML:Mobile><edXML:Email></edXML:Email></edXML:StaffInfo>
<edXML:StatusCode>%s</edXML:StatusCode>
<edXML:Description>%s</edXML:Description>
<edXML:Timestamp>2026/12/01 09:00:00</edXML:Timestamp>
</edXML:MessageHeader>
</edXML:edXMLHeader>
</edXML:edXMLEnvelope>
</edXML>
`, from, sender, docID, code, description)
}
