package dashboard_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The dashboard's event streams and the browser tests' hub and Chromium
// run goroutines: each must be gone when the tests are.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
