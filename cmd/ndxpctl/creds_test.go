package main

import (
	"testing"

	"github.com/ndxp/ndxp/internal/hubtest"
)

// TestCredsFileRefused: a credentials file others may read, or a path
// that is no file, is refused before anything is dialed.
func TestCredsFileRefused(t *testing.T) { hubtest.CheckCredsRefused(t, run, "overview") }
