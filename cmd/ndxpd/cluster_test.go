package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ndxp/ndxp/server"
)

// TestCheckClusterConfig: ndxpd -t accepts every node's config that
// ndxpctl cluster init writes.
func TestCheckClusterConfig(t *testing.T) {
	l, err := server.InitCluster(filepath.Join(t.TempDir(), "cluster"), 5, 18500, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{"-t", "--config", n.Config}, &stdout, &stderr); err != nil {
			t.Errorf("ndxpd -t --config %s: %v", n.Config, err)
		} else if !strings.Contains(stdout.String(), "configuration OK") {
			t.Errorf("ndxpd -t --config %s: stdout %q, want configuration OK", n.Config, stdout.String())
		}
	}
}
