package edxml

import (
	"archive/zip"
	"io"
	"strings"
)

// Packed reports whether an attachment's bytes are a ZIP holding exactly
// one file while its name does not say ZIP: the most common builder zips
// every attachment, so a "….pdf" arrives as a ZIP of "<uuid>.pdf". It
// returns the name and size of the file inside. The bytes are kept as
// sent; Packed only tells a reader there is a file to offer unzipped.
func Packed(ra io.ReaderAt, size int64, name string) (inner string, innerSize int64, ok bool) {
	if strings.HasSuffix(strings.ToLower(strings.TrimSpace(name)), ".zip") {
		return "", 0, false
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return "", 0, false
	}
	var file *zip.File
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		if file != nil {
			return "", 0, false
		}
		file = f
	}
	if file == nil {
		return "", 0, false
	}
	return file.Name, int64(file.UncompressedSize64), true
}
