package main

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// Files ndxp itself writes inside a saved document's directory. No
// attachment may take these names (attachmentFileNames).
const (
	headerFile = "header.json"
	recallFile = "recall.json"
)

// reservedNames are the names, folded (foldName), that attachments may not
// take: the files above, and the fixed temporary names earlier versions
// of ndxp used while writing them ("recall.json.tmp"), which an older
// ndxp working on the same directory would remove. The current one
// writes its temporary files under random names it creates exclusively
// (writeFileAtomic).
var reservedNames = map[string]bool{
	headerFile: true, recallFile: true, headerFile + ".tmp": true, recallFile + ".tmp": true,
}

// partialSuffix marks a document directory still being written.
const partialSuffix = ".partial"

// maxNameBytes is the longest file name most file systems accept.
const maxNameBytes = 255

// Permissions of saved documents: official documents are not for every
// user of the machine.
const (
	dirMode  = 0o750
	fileMode = 0o640
)

// errAlreadySaved says the document's directory exists: it was saved
// before (a redelivery after a crash, or an earlier fetch).
var errAlreadySaved = errors.New("already saved")

// docHub is what saving a document needs from the hub. *client.Client
// has these methods; tests use a fake.
type docHub interface {
	// Document returns a document's header and attachment descriptions.
	Document(ctx context.Context, documentID string) (*ndxpv1.Document, error)
	// FetchAttachment writes attachment index of doc to w, checking its
	// digest; small attachments come inside a pushed document already.
	FetchAttachment(ctx context.Context, doc *ndxpv1.Document, index int, w io.Writer) (int64, error)
}

// saver writes documents into a directory, one subdirectory per document.
type saver struct {
	dir string
	hub docHub
	bar *cli.Progress
	// keepPacked saves a packed attachment (a ZIP of one file) as it
	// came instead of unpacked.
	keepPacked bool
}

// checkDocumentID refuses ids that are not safe as a directory name: the
// id comes from the hub, and a wrong one must not write outside DIR.
func checkDocumentID(id string) error {
	if id == "" || len(id) > 128 || strings.HasPrefix(id, ".") || strings.HasSuffix(id, partialSuffix) {
		return fmt.Errorf("document id %q is not usable as a directory name", id)
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("document id %q is not usable as a directory name", id)
		}
	}
	return nil
}

// plainName reports whether an attachment name can be used as a file name
// as it is, on goos: one path element, not too long, nothing a terminal
// or a file manager would show other than it reads (cli.Cell leaves it
// unchanged: no control, bidi or invisible character, valid UTF-8, so
// "a\u202efdp.exe" is not listed as "aexe.pdf"), and nothing Windows
// cannot hold: device names (CON, NUL, COM1.txt…), a trailing dot or
// space (dropped by Windows, so "a.pdf." would become "a.pdf"). The
// characters < > : " | ? * are refused on Windows only, where they cannot
// be in a file name (":" would even write to an alternate data stream);
// elsewhere they are ordinary ("Báo cáo: tháng 9.pdf") and kept.
func plainName(name, goos string) bool {
	if name == "" || name == "." || name == ".." || len(name) > maxNameBytes {
		return false
	}
	if strings.ContainsAny(name, `/\`) || cli.Cell(name) != name {
		return false
	}
	if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") || windowsDevice(name) {
		return false
	}
	if goos == "windows" && strings.ContainsAny(name, `<>:"|?*`) {
		return false
	}
	return true
}

// windowsDevice reports whether Windows takes name for a device: CON, PRN,
// AUX, NUL, COM0-9, LPT0-9 (and their superscript-digit forms), CONIN$,
// CONOUT$, whatever the case and the extension.
func windowsDevice(name string) bool {
	stem, _, _ := strings.Cut(name, ".")
	stem = strings.ToUpper(strings.TrimRight(stem, " "))
	switch stem {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(stem) >= 4 && (strings.HasPrefix(stem, "COM") || strings.HasPrefix(stem, "LPT")) {
		switch stem[3:] {
		case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
			return true
		}
	}
	return false
}

// foldName is the key under which two names are one file on a
// case-insensitive or normalization-insensitive file system (Windows,
// macOS): case folded ("Scan.PDF", "scan.pdf"; "K" and the Kelvin sign),
// then NFC ("hồ sơ.pdf" precomposed or decomposed).
func foldName(c cases.Caser, name string) string {
	return norm.NFC.String(c.String(name))
}

// attachmentFileNames picks the file name of each attachment in a saved
// document's directory: its own name when that is a plain base name
// (plainName), else "attachment-<i>". Names are compared folded
// (foldName), so that two attachments cannot overwrite each other on a
// case-insensitive file system, and none can take a name ndxp writes
// itself (reservedNames). The rule depends only on the names, in order,
// and the platform for < > : " | ? * (plainName), so a program reading
// header.json can apply it too; `ndxp fetch -o json` prints the result.
func attachmentFileNames(atts []*ndxpv1.AttachmentInfo) []string {
	return attachmentFileNamesOn(atts, runtime.GOOS)
}

func attachmentFileNamesOn(atts []*ndxpv1.AttachmentInfo, goos string) []string {
	fold := cases.Fold()
	used := make(map[string]bool, len(reservedNames)+len(atts))
	for n := range reservedNames {
		used[n] = true
	}
	names := make([]string, len(atts))
	for i, a := range atts {
		name := a.GetName()
		if !plainName(name, goos) || used[foldName(fold, name)] {
			name = "attachment-" + strconv.Itoa(i)
			for k := 1; used[foldName(fold, name)]; k++ {
				name = "attachment-" + strconv.Itoa(i) + "-" + strconv.Itoa(k)
			}
		}
		used[foldName(fold, name)] = true
		names[i] = name
	}
	return names
}

// save writes doc and its attachments to dir/<id>: first into
// dir/<id>.partial, every file and the directory synced, then renamed in
// one step and dir synced, so dir/<id> exists only complete and durable.
// If dir/<id> exists, save returns its path and errAlreadySaved, unless
// replace is set.
func (s *saver) save(ctx context.Context, doc *ndxpv1.Document, replace bool) (string, error) {
	id := doc.GetId()
	if err := checkDocumentID(id); err != nil {
		return "", err
	}
	final := filepath.Join(s.dir, id)
	if _, err := os.Lstat(final); err == nil {
		if !replace {
			return final, errAlreadySaved
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	tmp := final + partialSuffix
	// A .partial directory is what a crash left; start again.
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("remove stale %s: %w", tmp, err)
	}
	if err := os.Mkdir(tmp, dirMode); err != nil {
		return "", err
	}
	if err := s.fill(ctx, tmp, doc); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if replace {
		if err := os.RemoveAll(final); err != nil {
			return "", err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := syncDir(s.dir); err != nil {
		return "", err
	}
	return final, nil
}

// fill writes header.json and the attachments into dir and syncs it.
func (s *saver) fill(ctx context.Context, dir string, doc *ndxpv1.Document) error {
	hdr, err := marshalProto(doc)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, headerFile), func(w io.Writer) error {
		_, err := w.Write(hdr)
		return err
	}); err != nil {
		return err
	}
	atts := doc.GetHeader().GetAttachments()
	var total, done int64
	for _, a := range atts {
		total += a.GetSize()
	}
	defer s.bar.Clear()
	for i, name := range attachmentFileNames(atts) {
		if err := ctx.Err(); err != nil {
			return err
		}
		cw := &countingWriter{n: &done, total: total, bar: s.bar}
		var err error
		if p := atts[i].GetPacked(); p != nil && !s.keepPacked {
			err = s.unpack(ctx, dir, name, doc, i, p, cw)
		} else {
			err = writeFile(filepath.Join(dir, name), func(w io.Writer) error {
				cw.w = w
				_, err := s.hub.FetchAttachment(ctx, doc, i, cw)
				return err
			})
		}
		if err != nil {
			return fmt.Errorf("attachment %d (%s): %w", i, atts[i].GetName(), err)
		}
	}
	return syncDir(dir)
}

// unpack saves packed attachment i of doc as dir/name, the one file
// inside its ZIP: the ZIP goes to a temporary file in dir (zip needs to
// read its end first), its entry to dir/name, checked against packed's
// size (and by archive/zip against its CRC-32). The hub found one file
// in it (edxml.Packed); anything else now is an error, not a guess.
func (s *saver) unpack(ctx context.Context, dir, name string, doc *ndxpv1.Document, i int, packed *ndxpv1.PackedFile, cw *countingWriter) error {
	tmp, err := os.CreateTemp(dir, ".packed-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	cw.w = tmp
	n, err := s.hub.FetchAttachment(ctx, doc, i, cw)
	if err != nil {
		return err
	}
	zr, err := zip.NewReader(tmp, n)
	if err != nil {
		return fmt.Errorf("unpack: %w (--keep-packed saves it as it came)", err)
	}
	var entry *zip.File
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		if entry != nil {
			return errors.New("unpack: the ZIP holds more than one file (--keep-packed saves it as it came)")
		}
		entry = f
	}
	if entry == nil {
		return errors.New("unpack: the ZIP holds no file (--keep-packed saves it as it came)")
	}
	rc, err := entry.Open()
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer rc.Close()
	want := packed.GetSize()
	return writeFile(filepath.Join(dir, name), func(w io.Writer) error {
		// One byte more than announced is enough to know it is too long.
		got, err := io.Copy(w, io.LimitReader(rc, want+1))
		if err != nil {
			return fmt.Errorf("unpack: %w", err)
		}
		if got != want {
			return fmt.Errorf("unpack: %s holds %d bytes or more, the hub said %d", entry.Name, got, want)
		}
		return nil
	})
}

// writeFile creates path (which must not exist), lets fn write it, and
// syncs it to disk.
func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeFileAtomic replaces path with data: a temporary file, synced, then
// renamed, then the directory synced. The temporary file gets a random
// name that is created exclusively (".recall.json.123.tmp"), so it can
// never be, nor remove, a file already there: an attachment named like
// ndxp's temporary files survives (the fixed "recall.json.tmp" of before
// was removed first, attachment or not).
func writeFileAtomic(path string, data []byte) error {
	return writeStreamAtomic(path, true, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// syncDir makes a directory's entries (new files, renames) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return d.Close()
}

// mkdirAll makes the output directory if it is missing.
func mkdirAll(dir string) error { return os.MkdirAll(dir, dirMode) }
