package pki

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// WriteFileAtomic writes data to path so that readers and crashes see either
// the old content or the new, never a mix: it writes a temporary file in the
// same directory, sets its mode to perm, syncs it, renames it over path and
// syncs the directory. perm is applied exactly (it is not filtered by the
// umask) and replaces the mode of any existing file. If path is a symbolic
// link, the link itself is replaced.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	// CreateTemp makes the file 0600, so secrets are never exposed, even
	// briefly; widen (or keep) the mode before any data is written.
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. Windows cannot open or sync
// directories; renames there are durable enough.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// readPrivateFile reads a file of secrets of at most max bytes. Like ssh
// with a private key, it refuses a file its group or others may access
// (the mode bits 077), naming the chmod that fixes it; Windows has no such
// bits and is not checked. A regular file or a pipe (a shell's <(...)) is
// read, and no more than max+1 bytes of it; a directory, a device such as
// /dev/zero or a socket is refused before it is opened.
func readPrivateFile(path string, max int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkPrivateFile(path, fi, max); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Checked again on what was opened: the path may have been replaced.
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := checkPrivateFile(path, fi, max); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	}
	return data, nil
}

func checkPrivateFile(path string, fi fs.FileInfo, max int64) error {
	mode := fi.Mode()
	switch {
	case mode.IsDir():
		return fmt.Errorf("%w: it is a directory", ErrNotRegular)
	case mode&fs.ModeDevice != 0:
		return fmt.Errorf("%w: it is a device", ErrNotRegular)
	case !mode.IsRegular() && mode.Type() != fs.ModeNamedPipe:
		return fmt.Errorf("%w: its mode is %v", ErrNotRegular, mode)
	case mode.IsRegular() && fi.Size() > max:
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, fi.Size(), max)
	}
	if runtime.GOOS != "windows" && mode.Perm()&0o077 != 0 {
		return fmt.Errorf("%w: mode %04o lets group or others access it; run: chmod 600 %s",
			ErrTooOpen, mode.Perm(), shellQuote(path))
	}
	return nil
}

// shellQuote makes path one word for a POSIX shell.
func shellQuote(path string) string {
	if path != "" && strings.Trim(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:@%+=,-") == "" {
		return path
	}
	return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
}
