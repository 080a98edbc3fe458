package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ndxp/ndxp/internal/cli"
	"github.com/ndxp/ndxp/internal/cluster"
	"github.com/ndxp/ndxp/internal/hubtest"
)

// fakeCluster makes h node n1, leading a cluster whose n2 is h again under
// another name (so ndxpctl dials it separately), n3 a closed port and n4 a
// node with no recorded gRPC address; the leader cannot reach n3.
func fakeCluster(t *testing.T, h *hubtest.Hub) *hubtest.FakeNode {
	t.Helper()
	_, port, _ := net.SplitHostPort(h.Daemon.GRPCAddr())
	node := hubtest.NewFakeNode(cluster.Status{ID: "n1", State: "Leader", LeaderID: "n1", AppliedIndex: 41, CommitIndex: 42, LastLogIndex: 42},
		cluster.Member{ID: "n1", GRPC: h.Daemon.GRPCAddr(), Raft: "127.0.0.1:7502", Voter: true},
		cluster.Member{ID: "n2", GRPC: "localhost:" + port, Raft: "127.0.0.1:7512", Voter: true},
		cluster.Member{ID: "n3", GRPC: freeAddrs(t, 1)[0], Raft: "127.0.0.1:7522", Voter: true},
		cluster.Member{ID: "n4", Raft: "127.0.0.1:7532", Voter: true})
	node.SetDown(map[string]time.Time{"n3": time.Now().Add(-time.Minute)})
	h.Daemon.SetClusterNode(node)
	return node
}

func ctl(h *hubtest.Hub, args ...string) (string, error) {
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"--creds", h.AdminCreds(), "--hub", h.Daemon.GRPCAddr()}, args...), &out, &out)
	return out.String(), err
}

func TestClusterStatus(t *testing.T) {
	h := hubtest.Start(t)
	fakeCluster(t, h)
	out, err := ctl(h, "cluster", "status", "-o", "json")
	if err != nil {
		t.Fatalf("cluster status: %v\n%s", err, out)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	_, port, _ := net.SplitHostPort(h.Daemon.GRPCAddr())
	member := func(id, grpc, raft, state string, applied, contact float64) map[string]any {
		return map[string]any{"id": id, "grpc": grpc, "raft": raft, "state": state, "applied_index": applied, "last_contact_ms": contact}
	}
	members := got["members"].([]any)
	want := map[string]any{"leader": "n1", "members": []any{
		member("n1", h.Daemon.GRPCAddr(), "127.0.0.1:7502", "Leader", 41, 0),
		member("n2", "localhost:"+port, "127.0.0.1:7512", "Leader", 41, 0), // h again, answering for itself
		member("n3", members[2].(map[string]any)["grpc"].(string), "127.0.0.1:7522", "unreachable", 0, -1),
		member("n4", "", "127.0.0.1:7532", "unreachable", 0, -1),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cluster status -o json (-want +got):\n%s", diff)
	}

	out, err = ctl(h, "cluster", "status")
	if err != nil {
		t.Fatalf("cluster status: %v\n%s", err, out)
	}
	t.Logf("cluster status:\n%s", out)
	for _, w := range []string{"Leader:", "NODE", "LAST CONTACT", "n3", "unreachable", "n3: the leader has not reached it since", "n4: no gRPC address recorded"} {
		if !strings.Contains(out, w) {
			t.Errorf("cluster status does not say %q:\n%s", w, out)
		}
	}
}

func TestClusterAddRemove(t *testing.T) {
	h := hubtest.Start(t)
	fakeCluster(t, h)
	out, err := ctl(h, "cluster", "add", "n5", "--raft", "10.0.0.5:7502", "--grpc", "10.0.0.5:7500", "-o", "json")
	if err != nil {
		t.Fatalf("cluster add: %v\n%s", err, out)
	}
	var v clusterMembersView
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.Members) != 5 || v.Members[4] != (clusterConfigMemberView{ID: "n5", GRPC: "10.0.0.5:7500", Raft: "10.0.0.5:7502", Voter: true}) {
		t.Errorf("cluster add -o json: %+v, %v\n%s", v, err, out)
	}
	out, err = ctl(h, "cluster", "remove", "n5")
	if err != nil || !strings.Contains(out, "removed node n5") || strings.Contains(out, "10.0.0.5") {
		t.Errorf("cluster remove: %v\n%s", err, out)
	}
	if out, err := ctl(h, "cluster", "remove", "n9"); err == nil || !strings.Contains(err.Error(), "not a member") {
		t.Errorf("cluster remove of a stranger: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"cluster", "add", "N5", "--raft", "10.0.0.5:7502", "--grpc", "10.0.0.5:7500"},
		{"cluster", "add", "n5", "--raft", "10.0.0.5", "--grpc", "10.0.0.5:7500"},
		{"cluster", "remove", "node 5"},
	} {
		var u *cli.UsageError
		if _, err := ctl(h, args...); !errors.As(err, &u) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if _, err := ctl(h, "cluster", "add", "n5", "--raft", "10.0.0.5:7502"); err == nil || !strings.Contains(err.Error(), "grpc") {
		t.Errorf("cluster add without --grpc: %v", err)
	}
}

func TestClusterStatusSingleNode(t *testing.T) {
	h := hubtest.Start(t)
	if out, err := ctl(h, "cluster", "status"); err == nil || !strings.Contains(cli.ErrorLine(err), "single node") {
		t.Errorf("cluster status of a single node: %v\n%s", err, out)
	}
}
