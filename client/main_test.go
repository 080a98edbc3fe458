package client

import (
	"testing"

	"go.uber.org/goleak"
)

// The client's subscription and upload goroutines, and the examples'
// in-process hub, must be gone when the tests are.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
