package store

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Walk calls fn for every body file (by its SHA-256), and returns how many
// temporary upload files there are: a read-only look for checks, where
// Sweep removes.
func (f *Files) Walk(fn func(sum string) error) (uploads int, err error) {
	ents, err := os.ReadDir(filepath.Join(f.dir, "tmp"))
	if err != nil && !os.IsNotExist(err) {
		return 0, err
	}
	uploads = len(ents)
	err = filepath.WalkDir(f.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == f.dir && os.IsNotExist(err) {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() {
			if path != f.dir && filepath.Base(path) == "tmp" {
				return fs.SkipDir
			}
			return nil
		}
		if !validSum(d.Name()) {
			return nil
		}
		return fn(d.Name())
	})
	return uploads, err
}
