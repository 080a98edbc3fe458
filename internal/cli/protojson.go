package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ProtoJSON writes an API message as JSON in the CLIs' style (see JSON),
// which protojson's proto3 mapping breaks in four places it fixes:
//
//   - 64-bit integers are JSON numbers, not strings;
//   - SHA-256 digests (bytes fields named sha256 or ending in _sha256) are
//     lower-case hex, not base64; other bytes stay base64;
//   - enum values are lower-case words without the enum's prefix
//     (STAGE_PILOT is "pilot", BUSINESS_TYPE_NEW is "new");
//   - every field is present: zero scalars as 0, "" or false, lists as []
//     and maps as {}, even when empty. Only an unset message field (a
//     timestamp not yet reached, a signer not given) and the members of a
//     oneof that are not set are left out, never written as null.
//
// Field names are the proto names (lower_snake_case), in the order of
// the .proto, and timestamps RFC 3339 strings in UTC, as in the proto3
// mapping; other well-known types are written as protojson writes them.
func ProtoJSON(w io.Writer, m proto.Message) error {
	return JSON(w, protoObject{m.ProtoReflect()})
}

// protoObject is a message that encoding/json writes in the style of
// ProtoJSON, so JSON indents it and makes it safe to show like any value.
type protoObject struct{ m protoreflect.Message }

func (o protoObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := writeMessage(&b, o.m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeMessage(b *bytes.Buffer, m protoreflect.Message) error {
	md := m.Descriptor()
	if md.FullName().Parent() == "google.protobuf" {
		return writeWellKnown(b, m)
	}
	b.WriteByte('{')
	fields := md.Fields()
	first := true
	for i := range fields.Len() {
		fd := fields.Get(i)
		if (fd.ContainingOneof() != nil || fd.Message() != nil && !fd.IsList() && !fd.IsMap()) && !m.Has(fd) {
			continue // an unset oneof member or message: absent, not null
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeString(b, string(fd.Name()))
		b.WriteByte(':')
		if err := writeField(b, fd, m.Get(fd)); err != nil {
			return fmt.Errorf("%s: %w", fd.FullName(), err)
		}
	}
	b.WriteByte('}')
	return nil
}

func writeField(b *bytes.Buffer, fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch {
	case fd.IsList():
		l := v.List()
		b.WriteByte('[')
		for i := range l.Len() {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeSingular(b, fd, l.Get(i)); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case fd.IsMap():
		mp := v.Map()
		keys := make([]protoreflect.MapKey, 0, mp.Len())
		mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k)
			return true
		})
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k.String())
			b.WriteByte(':')
			if err := writeSingular(b, fd.MapValue(), mp.Get(k)); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	}
	return writeSingular(b, fd, v)
}

func writeSingular(b *bytes.Buffer, fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return writeMessage(b, v.Message())
	case protoreflect.StringKind:
		writeString(b, v.String())
	case protoreflect.BoolKind:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		b.WriteString(strconv.FormatUint(v.Uint(), 10))
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		switch {
		case math.IsNaN(f):
			writeString(b, "NaN")
		case math.IsInf(f, 1):
			writeString(b, "Infinity")
		case math.IsInf(f, -1):
			writeString(b, "-Infinity")
		default:
			b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
		}
	case protoreflect.BytesKind:
		if isDigest(fd) {
			writeString(b, hex.EncodeToString(v.Bytes()))
		} else {
			writeString(b, base64.StdEncoding.EncodeToString(v.Bytes()))
		}
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			writeString(b, EnumWord(fd.Enum(), ev))
		} else {
			b.WriteString(strconv.Itoa(int(v.Enum()))) // a value newer than this tool
		}
	default:
		return fmt.Errorf("field kind %v not supported", fd.Kind())
	}
	return nil
}

// isDigest says whether a bytes field holds a digest, written in hex.
func isDigest(fd protoreflect.FieldDescriptor) bool {
	name := string(fd.Name())
	return name == "sha256" || strings.HasSuffix(name, "_sha256")
}

// EnumWord is the word for an enum value in the CLIs' JSON: its name
// without the enum's prefix, in lower case: STAGE_PILOT is "pilot",
// EVENT_KIND_DOCUMENT_ARRIVED "document_arrived".
func EnumWord(ed protoreflect.EnumDescriptor, ev protoreflect.EnumValueDescriptor) string {
	name := string(ev.Name())
	return strings.ToLower(strings.TrimPrefix(name, enumPrefix(string(ed.Name()))))
}

// enumPrefix turns an enum's name into the prefix of its values, as buf
// lint wants them: BusinessType -> BUSINESS_TYPE_.
func enumPrefix(name string) string {
	var b strings.Builder
	for i, r := range name {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	b.WriteByte('_')
	return b.String()
}

// writeWellKnown writes a google.protobuf message: a Timestamp as an RFC
// 3339 string in UTC, the others as protojson does.
func writeWellKnown(b *bytes.Buffer, m protoreflect.Message) error {
	if m.Descriptor().FullName() == "google.protobuf.Timestamp" {
		fields := m.Descriptor().Fields()
		secs := m.Get(fields.ByName("seconds")).Int()
		nanos := m.Get(fields.ByName("nanos")).Int()
		writeString(b, time.Unix(secs, nanos).UTC().Format(time.RFC3339Nano))
		return nil
	}
	out, err := protojson.Marshal(m.Interface())
	if err != nil {
		return err
	}
	b.Write(out)
	return nil
}

// writeString writes s as a JSON string, leaving <, > and & as they are
// (JSON sets SetEscapeHTML(false) for the same reason: this is not HTML).
func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	b.Truncate(b.Len() - 1)
}
