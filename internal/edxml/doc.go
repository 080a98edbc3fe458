package edxml

// What Read and Write decide that the format leaves open (docs/edxml.md
// quotes this):
//
// Reading
//   - A UTF-8 BOM may lead; then the first byte must be '<'. The XML
//     declaration is optional, but when present it must be first, and its
//     encoding, if given, must be UTF-8. DOCTYPE is refused.
//   - Elements match by namespace URI and local name; any order. Strict
//     XML (well-formedness) is on; namespaces are not enforced, so an
//     undeclared xlink: prefix is kept as Attr{Space: "xlink"}.
//   - A status packet is one whose MessageHeader has a StatusCode. Codes
//     01-06, 13, 15, 16 are accepted ("3" too, with a warning); 07-12 and
//     14, and anything else, are refused. A TraceHeaderList or an empty
//     edXMLBody in a status packet is dropped with a warning; a Reference
//     or an Attachment in one is refused.
//   - A manifest Reference without a payload Attachment of the same
//     ContentId ("cid:" stripped, any case; the rest compared exactly) is
//     refused, as is an Attachment without ContentTransferEncoded. An
//     Attachment without a Reference, or whose ContentType differs from its
//     Reference's, is a warning. A known element twice where one is allowed
//     is refused; text between elements of the known structure is refused.
//   - Base64 may be wrapped with LF, CRLF, tabs, spaces, &#13; &#10; &#9;
//     &#32; (decimal or hex), may sit in CDATA, may lack padding. Anything
//     else in it is refused as broken base64.
//   - Values are kept as written (not trimmed). Checks on dates
//     (yyyy/MM/dd), timestamps (yyyy/MM/dd HH:mm:ss), integers, Direction
//     (strconv.ParseBool) and BussinessDocType (0-3) trim the value, skip it
//     when empty, and only warn.
//   - A manifest without a version attribute reads as version "1.0", the
//     value Write emits.
//
// Paths
//   - Element.Parent is the full path below the root, local names joined
//     by "/", canonical spelling (Bussiness), [n] (from 1) on elements that
//     may repeat: To, ResponseFor, Appendix, ToPlaces/Place, TraceHeader,
//     Receiver, ReplacementInfo, OrganIdList/OrganId, Reference,
//     Attachment. Example:
//     "edXMLEnvelope/edXMLHeader/MessageHeader/To[2]". The root is "".
//   - Warning.Element and Error.Element are the same path with the
//     "edXMLEnvelope/edXMLHeader/" or "edXMLEnvelope/edXMLBody/" prefix
//     dropped: "MessageHeader/From/OrganId", "TraceHeaderList/TraceHeader[2]/Timestamp",
//     "edXMLManifest/Reference[1]/ContentId", "AttachmentEncoded/Attachment[1]/ContentTransferEncoded";
//     the root is "edXML", the declaration "xml declaration".
//   - Error.Error() is `line 12: MessageHeader/From/OrganId "x": reason`
//     (the quoted value only when there is one).
//
// Writing
//   - The first line is Declaration, <?xml version="1.0" encoding="UTF-8"?>.
//     Line ends are LF; containers are indented by two spaces; leaves are
//     on one line; the file ends with a LF.
//   - <edXML xmlns="ns"> unprefixed; <edXML:edXMLEnvelope xmlns:edXML="ns">
//     and every element inside the envelope prefixed edXML:;
//     AttachmentEncoded, Attachment and its children unprefixed but
//     <edXML:ContentTransferEncoded xmlns:edXML="ns">, which must declare
//     the prefix again as it is outside the envelope.
//   - Base64 in lines of 76 characters separated by LF, starting right
//     after the start tag, no LF before the end tag.
//   - Every element of the document MessageHeader table is written, empty
//     when empty (From, Code, PromulgationInfo, DocumentType, SignerInfo,
//     OtherInfo with Appendixes, SteeringType, ToPlaces and all their
//     leaves; each To and ResponseFor with all four or eight leaves), but
//     DueDate, written only when not empty. A status MessageHeader: From,
//     ResponseFor*, StaffInfo (when not nil), StatusCode, Description
//     (only when not empty), Timestamp. TraceHeaderList when Trace is not
//     nil, Bussiness when Business is not nil, StaffInfo and
//     BussinessDocumentInfo (with ReceiverList) when not nil,
//     ReplacementInfoList when there are Replacements. Reference and
//     Attachment leaves are always written. A document always has
//     edXMLBody/edXMLManifest and AttachmentEncoded, empty or not.
//   - An optional element is written anyway when an Extra names it as
//     parent. Extra elements come at the end of their parent (after the
//     text in a leaf); Signature.XML after TraceHeaderList.
//   - Text is escaped for &, <, > and CR; LF and tab are kept literal.
