package main

import (
	"io"

	"github.com/ndxp/ndxp/internal/cli"
)

// countingWriter reports the running byte count of everything written
// through it, for a progress bar over several files.
type countingWriter struct {
	w     io.Writer
	n     *int64
	total int64
	bar   *cli.Progress
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	c.bar.Update(*c.n, c.total)
	return n, err
}
