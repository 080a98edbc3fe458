package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// csvColumns are the columns an import file may have; code and name are required.
var csvColumns = []string{"code", "name", "parent", "stage", "contact", "email", "phone", "address"}

// readAgencyCSV parses an import file. It returns the agencies and, for
// each, its line number in the file (the header is line 1), so a refusal
// from the hub can name the line.
func readAgencyCSV(r io.Reader) ([]*ndxpv1.Agency, []int, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM written by spreadsheet programs
	if line, ok := invalidUTF8(data); !ok {
		// Found here, or the hub's client refuses to encode the request
		// with a message about protobuf strings.
		return nil, nil, fmt.Errorf("line %d: not UTF-8 text; save the file as CSV UTF-8", line)
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err == io.EOF {
		return nil, nil, errors.New("line 1: the file is empty; want a header code,name,parent,stage")
	}
	if err != nil {
		return nil, nil, csvError(err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		known := false
		for _, c := range csvColumns {
			known = known || c == h
		}
		if !known {
			return nil, nil, fmt.Errorf("line 1: unknown column %q (columns: %s)", h, strings.Join(csvColumns, ","))
		}
		if _, dup := col[h]; dup {
			return nil, nil, fmt.Errorf("line 1: column %q appears twice", h)
		}
		col[h] = i
	}
	for _, req := range []string{"code", "name"} {
		if _, ok := col[req]; !ok {
			return nil, nil, fmt.Errorf("line 1: the header lacks the %q column", req)
		}
	}
	var list []*ndxpv1.Agency
	var lines []int
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, csvError(err)
		}
		// Only after a record was read: on an error FieldPos may have no
		// field to tell of, and it panics (a quote opened in the first
		// field and never closed did).
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		if len(rec) != len(header) {
			return nil, nil, fmt.Errorf("line %d: %d fields, the header has %d", line, len(rec), len(header))
		}
		get := func(name string) string {
			if i, ok := col[name]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		ag := &ndxpv1.Agency{
			Code:       get("code"),
			Name:       get("name"),
			ParentCode: get("parent"),
			Contact:    &ndxpv1.Contact{Person: get("contact"), Email: get("email"), Phone: get("phone"), Address: get("address")},
		}
		if s := get("stage"); s != "" {
			st, err := parseStage(s)
			if err != nil {
				return nil, nil, fmt.Errorf("line %d: %v", line, err)
			}
			ag.Stage = st
		}
		list = append(list, ag)
		lines = append(lines, line)
	}
	if len(list) == 0 {
		return nil, nil, errors.New("no agencies after the header line")
	}
	return list, lines, nil
}

// invalidUTF8 returns the line of the first byte that is not UTF-8, and
// false; or 0 and true for UTF-8 text.
func invalidUTF8(data []byte) (int, bool) {
	if utf8.Valid(data) {
		return 0, true
	}
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return 1 + bytes.Count(data[:i], []byte("\n")), false
		}
		i += n
	}
	return 0, true
}

// csvError names the line of a row encoding/csv could not read: the line
// the row starts on, where the mistake usually is (an unclosed quote is
// only found at the end of the file).
func csvError(err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	if pe.Line != pe.StartLine {
		return fmt.Errorf("line %d: %v (the row runs on to line %d, column %d)", pe.StartLine, pe.Err, pe.Line, pe.Column)
	}
	return fmt.Errorf("line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
}

// Streamed import. A batch stays far below gRPC's 4 MiB message limit
// whatever the rows hold; the whole import gets a deadline of its own
// (the client's default is for unary calls), long enough for 200,000
// agencies on a slow link.
const (
	importBatchBytes = 1 << 20
	importTimeout    = 10 * time.Minute
)

// importAgencies sends the agencies to the hub in batches over one
// ImportAgenciesStream, which stores all or none, and returns how many
// were created. A refusal names agencies[i] by its index in list.
func importAgencies(ctx context.Context, reg ndxpv1.RegistryServiceClient, list []*ndxpv1.Agency) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, importTimeout)
	defer cancel()
	stream, err := reg.ImportAgenciesStream(ctx)
	if err != nil {
		return 0, err
	}
	for _, b := range importBatches(list, importBatchBytes) {
		if err := stream.Send(&ndxpv1.ImportAgenciesStreamRequest{Agencies: b}); err != nil {
			if errors.Is(err, io.EOF) {
				break // the hub ended the stream: its reason comes from CloseAndRecv
			}
			return 0, err
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return 0, err
	}
	return int(resp.GetCreated()), nil
}

// importBatches splits list into runs of consecutive agencies whose
// encoding in one ImportAgenciesStreamRequest is at most max bytes (an
// agency larger than max goes alone).
func importBatches(list []*ndxpv1.Agency, max int) [][]*ndxpv1.Agency {
	var out [][]*ndxpv1.Agency
	start, size := 0, 0
	for i, a := range list {
		n := protowire.SizeTag(1) + protowire.SizeBytes(proto.Size(a)) // as a field of the request
		if i > start && size+n > max {
			out = append(out, list[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(list) {
		out = append(out, list[start:])
	}
	return out
}

var agencyIndex = regexp.MustCompile(`^agencies\[(\d+)\]\.?(.*)$`)

// lineError rewrites a refusal that names agencies[i] to name the file's line.
func lineError(file string, err error, lines []int) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, v := range br.GetFieldViolations() {
			m := agencyIndex.FindStringSubmatch(v.GetField())
			if m == nil {
				continue
			}
			i, _ := strconv.Atoi(m[1])
			if i < 0 || i >= len(lines) {
				continue
			}
			field := m[2]
			if field == "" {
				field = "row"
			}
			return fmt.Errorf("%s line %d: %s: %s; nothing was imported", file, lines[i], field, v.GetDescription())
		}
	}
	return fmt.Errorf("%s: %s; nothing was imported", file, cli.ErrorLine(err))
}

// importView is the JSON shape of `ndxpctl agency import`.
type importView struct {
	File    string `json:"file"`
	Read    int    `json:"read"`    // agencies in the file
	Created int    `json:"created"` // agencies registered: all read, or 0 with --dry-run
	DryRun  bool   `json:"dry_run"`
}

func agencyImportCmd(a *app) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Register the agencies of a CSV file, all or nothing",
		Long: `Registers every agency of a CSV file in one transaction: if any row is bad,
nothing is imported and the error names the row's line (the header is line 1).
A file may hold up to 200,000 agencies; they go to the hub in batches.
Header: code,name,parent,stage (also optional: contact,email,phone,address).
An empty stage means pending; an empty parent is derived from the code when
that agency is registered or in the same file.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			list, lines, err := readAgencyCSV(f)
			if err != nil {
				return fmt.Errorf("%s %v; nothing was imported", args[0], err)
			}
			if dryRun {
				if a.json() {
					return cli.JSON(a.stdout, importView{File: args[0], Read: len(list), DryRun: true})
				}
				_, err := fmt.Fprintf(a.stdout, "%s: %d agencies read; not imported (--dry-run)\n", args[0], len(list))
				return err
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			created, err := importAgencies(cmd.Context(), c.Registry, list)
			if err != nil {
				return lineError(args[0], err, lines)
			}
			if a.json() {
				return cli.JSON(a.stdout, importView{File: args[0], Read: len(list), Created: created})
			}
			_, err = fmt.Fprintf(a.stdout, "%s: %d agencies imported\n", args[0], created)
			return err
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only read and check the file locally")
	return cmd
}
