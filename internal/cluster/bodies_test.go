package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ndxp/ndxp/internal/pki"
	"github.com/ndxp/ndxp/internal/store"
)

// Tests of body replication: three nodes in this process, each with its
// own blob directory, copying bodies over the node port on loopback.

// withFiles gives each node a blob directory beside its Raft directory.
func withFiles(t *testing.T) func(*Config) {
	return func(c *Config) {
		f, err := store.OpenFiles(filepath.Join(filepath.Dir(c.Dir), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		c.Files = f
	}
}

// body returns n deterministic bytes (different for each seed) and their sum.
func body(seed uint64, n int) ([]byte, string) {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	s := sha256.Sum256(b)
	return b, hex.EncodeToString(s[:])
}

// commitBody writes data into files as the hub does before a push.
func commitBody(t *testing.T, files *store.Files, data []byte) string {
	t.Helper()
	w, err := files.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	sum, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func blobPath(files *store.Files, sum string) string {
	return filepath.Join(files.Dir(), sum[:2], sum)
}

// holds reports whether m's files hold exactly data under sum.
func holds(m *member, sum string, data []byte) bool {
	got, err := os.ReadFile(blobPath(m.cfg.Files, sum))
	return err == nil && bytes.Equal(got, data)
}

// eventually waits up to 10 s for ok.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// noTemporaries checks that no upload was left behind in m's blob directory.
func noTemporaries(t *testing.T, m *member) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(m.cfg.Files.Dir(), "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) > 0 {
		t.Errorf("%s: %d temporary files left", m.cfg.ID, len(ents))
	}
}

// TestPushBody: a push reaches every peer; with one peer down it still
// returns once the other holds the body.
func TestPushBody(t *testing.T) {
	ms := startClusterWith(t, 3, withFiles(t))
	leader(t, ms)
	src := ms[0]
	data, _ := body(1, 200<<10)
	sum := commitBody(t, src.cfg.Files, data)
	if err := src.node.PushBody(t.Context(), sum); err != nil {
		t.Fatalf("push: %v", err)
	}
	if !holds(ms[1], sum, data) && !holds(ms[2], sum, data) {
		t.Error("push returned before a peer held the body")
	}
	for _, m := range ms[1:] {
		eventually(t, m.cfg.ID+" holds the body", func() bool { return holds(m, sum, data) })
	}

	// Pushing it again is answered at once by peers that have it.
	if err := src.node.PushBody(t.Context(), sum); err != nil {
		t.Fatalf("push again: %v", err)
	}

	ms[2].kill()
	data2, _ := body(2, 100<<10)
	sum2 := commitBody(t, src.cfg.Files, data2)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := src.node.PushBody(ctx, sum2); err != nil {
		t.Fatalf("push with one peer down: %v", err)
	}
	if !holds(ms[1], sum2, data2) {
		t.Error("push returned with one peer down before the other held the body")
	}
	noTemporaries(t, ms[1])
}

// TestPushBodyNoMajority: with both peers down a push fails, by the end
// of its context.
func TestPushBodyNoMajority(t *testing.T) {
	ms := startClusterWith(t, 3, withFiles(t))
	leader(t, ms)
	ms[1].kill()
	ms[2].kill()
	data, _ := body(3, 100<<10)
	sum := commitBody(t, ms[0].cfg.Files, data)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	start := time.Now()
	err := ms[0].node.PushBody(ctx, sum)
	if err == nil {
		t.Fatal("push with no majority reachable succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("push took %v with a 1 s context", d)
	}
	t.Logf("push: %v", err)
	if !holds(ms[0], sum, data) {
		t.Error("the local body is gone after a failed push")
	}
}

// TestPushBodyRefusesBadDigest: a peer refuses bytes that do not hash to
// the name they are sent under.
func TestPushBodyRefusesBadDigest(t *testing.T) {
	ms := startClusterWith(t, 3, withFiles(t))
	leader(t, ms)
	_, sum := body(4, 100<<10)
	bad := blobPath(ms[0].cfg.Files, sum)
	if err := os.MkdirAll(filepath.Dir(bad), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not the body"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := ms[0].node.PushBody(ctx, sum)
	if err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("push of a corrupt body: %v, want a 400 from the peers", err)
	}
	for _, m := range ms[1:] {
		if _, err := os.Stat(blobPath(m.cfg.Files, sum)); err == nil {
			t.Errorf("%s placed a body with the wrong digest", m.cfg.ID)
		}
		noTemporaries(t, m)
	}
}

// TestFetchBody: a node fetches a body it lacks from a peer; bytes that do
// not hash to the body's name are refused and not kept.
func TestFetchBody(t *testing.T) {
	ms := startClusterWith(t, 3, withFiles(t))
	leader(t, ms)
	data, sum := body(5, 300<<10)
	bad := blobPath(ms[1].cfg.Files, sum)
	if err := os.MkdirAll(filepath.Dir(bad), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, bytes.Repeat([]byte("x"), 300<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	err := ms[0].node.FetchBody(t.Context(), sum)
	if err == nil {
		t.Fatal("fetch succeeded although only a corrupt copy exists")
	}
	for _, want := range []string{"node2", "node3", "SHA-256 mismatch", "does not have it"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("fetch error %q does not mention %q", err, want)
		}
	}
	if _, err := os.Stat(blobPath(ms[0].cfg.Files, sum)); err == nil {
		t.Error("a corrupt body was placed")
	}
	noTemporaries(t, ms[0])

	commitBody(t, ms[2].cfg.Files, data)
	if err := ms[0].node.FetchBody(t.Context(), sum); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if !holds(ms[0], sum, data) {
		t.Error("the fetched body differs")
	}
	// Present already: nothing to do.
	if err := ms[0].node.FetchBody(t.Context(), sum); err != nil {
		t.Fatalf("fetch of a body present: %v", err)
	}
}

// TestLargeBody: 20 MiB bodies stream both ways.
func TestLargeBody(t *testing.T) {
	ms := startClusterWith(t, 3, withFiles(t))
	l := leader(t, ms)
	data, _ := body(6, 20<<20)
	sum := commitBody(t, l.cfg.Files, data)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := l.node.PushBody(ctx, sum); err != nil {
		t.Fatalf("push: %v", err)
	}
	var other *member
	for _, m := range ms {
		if m != l {
			eventually(t, m.cfg.ID+" holds the body", func() bool { return holds(m, sum, data) })
			other = m
		}
	}
	if err := other.cfg.Files.Remove(sum); err != nil {
		t.Fatal(err)
	}
	if err := other.node.FetchBody(ctx, sum); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if !holds(other, sum, data) {
		t.Error("the fetched body differs")
	}
}

// TestRemoveBodies: the peers' copies go; the caller's own stays, since
// the retention purge removes it.
func TestRemoveBodies(t *testing.T) {
	ms := startClusterWith(t, 3, withFiles(t))
	leader(t, ms)
	var sums []string
	var datas [][]byte
	for i := range 3 {
		data, _ := body(uint64(10+i), 70<<10)
		sum := commitBody(t, ms[0].cfg.Files, data)
		if err := ms[0].node.PushBody(t.Context(), sum); err != nil {
			t.Fatal(err)
		}
		sums, datas = append(sums, sum), append(datas, data)
	}
	for _, m := range ms[1:] {
		for i, sum := range sums {
			eventually(t, m.cfg.ID+" holds a body", func() bool { return holds(m, sum, datas[i]) })
		}
	}
	_, absent := body(99, 10)
	ms[0].node.RemoveBodies(t.Context(), append(sums[:2:2], absent))
	for _, m := range ms[1:] {
		for i, sum := range sums {
			_, err := os.Stat(blobPath(m.cfg.Files, sum))
			if i < 2 && err == nil {
				t.Errorf("%s still holds body %d", m.cfg.ID, i)
			}
			if i == 2 && err != nil {
				t.Errorf("%s lost body %d, which was not removed: %v", m.cfg.ID, i, err)
			}
		}
	}
	for i, sum := range sums {
		if !holds(ms[0], sum, datas[i]) {
			t.Errorf("the caller's own body %d was removed", i)
		}
	}
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBodiesOverTLS: bodies travel over the node port's mutual TLS, and an
// agency's or admin's certificate from the same CA is refused there.
func TestBodiesOverTLS(t *testing.T) {
	ca, err := pki.NewCA("ndxp test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	files := withFiles(t)
	ms := startClusterWith(t, 3, func(c *Config) {
		files(c)
		certPEM, keyPEM, _, err := ca.IssueNode(c.ID, []string{"127.0.0.1"}, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if c.ServerTLS, c.ClientTLS, err = pki.NodeTLS(ca.Pool(), certPEM, keyPEM); err != nil {
			t.Fatal(err)
		}
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	l := leader(t, ms)
	putMany(t, l.st, "tls", 20)
	data, _ := body(20, 500<<10)
	sum := commitBody(t, l.cfg.Files, data)
	if err := l.node.PushBody(t.Context(), sum); err != nil {
		t.Fatalf("push over TLS: %v", err)
	}
	for _, m := range ms {
		eventually(t, m.cfg.ID+" holds the body", func() bool { return holds(m, sum, data) })
	}

	target := ms[1]
	addr := target.cfg.Bind
	for _, id := range []pki.Identity{pki.AgencyIdentity("000.00.00.G22"), pki.AdminIdentity("alice")} {
		certPEM, keyPEM, _, err := ca.IssueClient(id, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		// The client trusts any server: what is tested is the node's refusal.
		ctls := &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				c, err := (&tls.Dialer{Config: ctls}).DialContext(ctx, "tcp", addr)
				if err != nil {
					return nil, err
				}
				if _, err := c.Write([]byte{tagBody}); err != nil {
					c.Close()
					return nil, err
				}
				return c, nil
			},
		}}
		resp, err := client.Get(bodyURL(addr, sum))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s read a body on the node port: %s", id, resp.Status)
		}
		t.Logf("%s: GET: %v", id, err)
		evil, evilSum := body(21, 1000)
		req, _ := http.NewRequest(http.MethodPut, bodyURL(addr, evilSum), bytes.NewReader(evil))
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("%s wrote a body on the node port: %s", id, resp.Status)
		}
		if _, err := os.Stat(blobPath(target.cfg.Files, evilSum)); err == nil {
			t.Fatalf("%s placed a body on the node port", id)
		}
		client.CloseIdleConnections()
	}
	// The node logs a refusal after the client has seen it fail.
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(logs.String(), "TLS handshake refused") < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "TLS handshake refused"); n < 4 {
		t.Errorf("%d refused handshakes logged, want 4:\n%s", n, logs.String())
	}

	// Nor does plain TCP get anywhere.
	plain := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Write([]byte{tagBody})
			}
			return c, err
		},
	}}
	if resp, err := plain.Get(bodyURL(addr, sum)); err == nil {
		resp.Body.Close()
		t.Fatalf("plain TCP read a body on the node port: %s", resp.Status)
	}
	plain.CloseIdleConnections()
}

// TestBodiesDisabled: without Files the calls say so, and Raft runs.
func TestBodiesDisabled(t *testing.T) {
	ms := startCluster(t, 3)
	l := leader(t, ms)
	putMany(t, l.st, "off", 10)
	_, sum := body(30, 10)
	if err := l.node.PushBody(t.Context(), sum); !errors.Is(err, errBodiesOff) {
		t.Errorf("push: %v, want errBodiesOff", err)
	}
	if err := l.node.FetchBody(t.Context(), sum); !errors.Is(err, errBodiesOff) {
		t.Errorf("fetch: %v, want errBodiesOff", err)
	}
	l.node.RemoveBodies(t.Context(), []string{sum})
}

// TestPushBodyAlone: a single voter is its own majority.
func TestPushBodyAlone(t *testing.T) {
	ms := startClusterWith(t, 1, withFiles(t))
	data, _ := body(40, 70<<10)
	sum := commitBody(t, ms[0].cfg.Files, data)
	if err := ms[0].node.PushBody(t.Context(), sum); err != nil {
		t.Errorf("push on a single voter: %v", err)
	}
	if err := ms[0].node.FetchBody(t.Context(), strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "no other member") {
		t.Errorf("fetch on a single node: %v, want no other member", err)
	}
}
