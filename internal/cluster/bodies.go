package cluster

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/ndxp/ndxp/internal/store"
)

// Attachment bodies larger than the store keeps inline are files named by
// their SHA-256 (store.Files) and never pass through the Raft log: nodes
// copy them to each other over HTTP/1.1 on the node port ('B' tag, mux.go),
// with the same node certificates as Raft.
//
//	PUT    /bodies/<sum>  store the body; 204 once it is verified and fsynced
//	GET    /bodies/<sum>  200 with the body, 404 when absent
//	DELETE /bodies/<sum>  remove it; 204

const (
	// maxBody bounds a body on the wire: attachments are at most 4 GiB.
	maxBody = 4 << 30
	// chunkSize is what one read hands to the store's writer, which takes
	// ownership, so a transfer holds a few chunks in memory, never a body.
	chunkSize = 256 << 10
	// idleTimeout fails a transfer that makes no progress for this long,
	// however large its body, so a hung peer cannot hold it forever.
	idleTimeout = 60 * time.Second
	// pushAttempts and pushBackoff bound the retries of one push to a peer.
	pushAttempts = 4
	pushBackoff  = 250 * time.Millisecond
	// peerSlots bounds the concurrent pushes to one peer, so a slow peer
	// delays only its own copies, not the majority the others make.
	peerSlots = 4
)

var errBodiesOff = errors.New("cluster: attachment bodies are disabled (Config.Files is nil)")

// bodies is a node's side of body replication: the server peers reach and
// the client that reaches theirs.
type bodies struct {
	files  *store.Files // nil: disabled
	log    *slog.Logger
	srv    *http.Server
	tr     *http.Transport
	client *http.Client

	// life ends when the node shuts down; background pushes and the
	// server's handlers run under gate (read-locked), which close takes.
	life   context.Context
	cancel context.CancelFunc
	gate   sync.RWMutex

	mu    sync.Mutex
	slots map[string]chan struct{} // per peer address
}

// newBodies serves the mux's body connections and dials peers through it.
func newBodies(files *store.Files, port *mux, log *slog.Logger) *bodies {
	b := &bodies{files: files, log: log, slots: map[string]chan struct{}{}}
	b.life, b.cancel = context.WithCancel(context.Background())
	b.tr = &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			c, err := port.dial(ctx, addr, tagBody)
			if err != nil {
				return nil, err
			}
			return idleConn{c}, nil
		},
		MaxIdleConnsPerHost:   peerSlots,
		IdleConnTimeout:       idleTimeout / 2, // before idleConn's deadline ends them
		ResponseHeaderTimeout: idleTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	b.client = &http.Client{Transport: b.tr}
	mx := http.NewServeMux()
	mx.HandleFunc("PUT /bodies/{sum}", b.handlePut)
	mx.HandleFunc("GET /bodies/{sum}", b.handleGet)
	mx.HandleFunc("DELETE /bodies/{sum}", b.handleDelete)
	b.srv = &http.Server{
		Handler:           b.guard(mx),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if files == nil {
		port.body.Close() // refuse body connections at once
	} else {
		go b.srv.Serve(port.body)
	}
	return b
}

// close stops the server and every transfer, and waits for them, so no
// file is written after the node is shut down.
func (b *bodies) close() {
	b.cancel()
	b.srv.Close()
	b.gate.Lock() // never unlocked: nothing starts afterwards
	b.tr.CloseIdleConnections()
}

// run starts f in the background unless the node is shutting down.
func (b *bodies) run(f func()) bool {
	if !b.gate.TryRLock() {
		return false
	}
	go func() {
		defer b.gate.RUnlock()
		f()
	}()
	return true
}

// guard keeps handlers inside the node's lifetime and clears the
// connection deadlines they set, which the server would otherwise keep
// for the connection's next request.
func (b *bodies) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !b.gate.TryRLock() {
			http.Error(w, "node shutting down", http.StatusServiceUnavailable)
			return
		}
		defer b.gate.RUnlock()
		rc := http.NewResponseController(w)
		defer func() {
			rc.SetReadDeadline(time.Time{})
			rc.SetWriteDeadline(time.Time{})
		}()
		h.ServeHTTP(w, r)
	})
}

// sumOf returns the body the request names, or answers 400.
func sumOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	sum := r.PathValue("sum")
	if !validSum(sum) {
		http.Error(w, "a body is named by its lowercase hex SHA-256", http.StatusBadRequest)
		return "", false
	}
	return sum, true
}

func (b *bodies) handlePut(w http.ResponseWriter, r *http.Request) {
	sum, ok := sumOf(w, r)
	if !ok {
		return
	}
	if f, err := b.files.Open(sum); err == nil {
		// Placed by a Commit, so verified and fsynced: the sender need not
		// send it again (it waits for 100 Continue, which never comes).
		// Touched, so that a sweep of stale files does not remove what a
		// record is about to name.
		f.Close()
		if err := b.files.Touch(sum); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.ContentLength > maxBody {
		http.Error(w, fmt.Sprintf("a body is at most %d bytes", maxBody), http.StatusRequestEntityTooLarge)
		return
	}
	rc := http.NewResponseController(w)
	body := readFunc(func(p []byte) (int, error) {
		rc.SetReadDeadline(time.Now().Add(idleTimeout))
		return r.Body.Read(p)
	})
	err := receive(b.files, http.MaxBytesReader(w, io.NopCloser(body), maxBody), sum)
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.As(err, &mbe):
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
	case errors.Is(err, errDigest):
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		b.log.Warn("cluster: receiving a body", "sum", sum, "peer", r.RemoteAddr, "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func (b *bodies) handleGet(w http.ResponseWriter, r *http.Request) {
	sum, ok := sumOf(w, r)
	if !ok {
		return
	}
	f, err := b.files.Open(sum)
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "no such body here", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", fmt.Sprint(fi.Size()))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	out := writeFunc(func(p []byte) (int, error) {
		rc.SetWriteDeadline(time.Now().Add(idleTimeout))
		return w.Write(p)
	})
	if _, err := io.CopyBuffer(out, readFunc(f.Read), make([]byte, chunkSize)); err != nil {
		b.log.Warn("cluster: sending a body", "sum", sum, "peer", r.RemoteAddr, "err", err)
	}
}

func (b *bodies) handleDelete(w http.ResponseWriter, r *http.Request) {
	sum, ok := sumOf(w, r)
	if !ok {
		return
	}
	if err := b.files.Remove(sum); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// errDigest marks bytes whose SHA-256 is not the name they came under.
var errDigest = errors.New("SHA-256 mismatch")

// receive streams r into a new body and places it only if its SHA-256 is
// sum; the writer's Commit fsyncs it before placing it.
func receive(files *store.Files, r io.Reader, sum string) error {
	fw, err := files.Create()
	if err != nil {
		return err
	}
	for {
		buf := make([]byte, chunkSize) // the writer takes it
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if err := fw.Give(buf[:n]); err != nil {
				fw.Abort()
				return err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			fw.Abort()
			return rerr
		}
	}
	got, err := fw.Sum()
	if err != nil {
		fw.Abort()
		return err
	}
	if hex.EncodeToString(got) != sum {
		fw.Abort()
		return fmt.Errorf("%w: %d bytes hash to %x, not %s; refused", errDigest, fw.Size(), got, sum)
	}
	_, err = fw.Commit()
	return err
}

// statusError is a peer's answer other than the one expected.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("answered %d", e.code)
	}
	return fmt.Sprintf("answered %d: %s", e.code, e.msg)
}

func answer(resp *http.Response) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return &statusError{code: resp.StatusCode, msg: strings.TrimSpace(string(msg))}
}

func bodyURL(addr, sum string) string {
	return (&url.URL{Scheme: "http", Host: addr, Path: "/bodies/" + sum}).String()
}

// put sends the local body sum to the peer at addr.
func (b *bodies) put(ctx context.Context, addr, sum string) error {
	f, err := b.files.Open(sum)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	var body io.ReadCloser = f
	if fi.Size() == 0 {
		f.Close()
		body = http.NoBody
	}
	resp, err := b.do(ctx, http.MethodPut, addr, sum, body, fi.Size())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return answer(resp)
	}
	return nil
}

// do makes one request about the body sum to the peer at addr; a body of
// size bytes is sent only once the peer asks for it (100-continue), since
// it may have the body already.
func (b *bodies) do(ctx context.Context, method, addr, sum string, body io.ReadCloser, size int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, bodyURL(addr, sum), body)
	if err != nil {
		if body != nil {
			body.Close()
		}
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		req.Header.Set("Expect", "100-continue")
	}
	return b.client.Do(req)
}

// errAbsent is a peer's 404: it does not have the body.
var errAbsent = errors.New("does not have it")

// get fetches the body sum from the peer at addr into the local files.
func (b *bodies) get(ctx context.Context, addr, sum string) error {
	resp, err := b.do(ctx, http.MethodGet, addr, sum, nil, 0)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return errAbsent
	case resp.StatusCode != http.StatusOK:
		return answer(resp)
	case resp.ContentLength > maxBody:
		return fmt.Errorf("announced %d bytes, more than a body may have", resp.ContentLength)
	}
	lim := &io.LimitedReader{R: resp.Body, N: maxBody + 1}
	if err := receive(b.files, lim, sum); err != nil {
		return err
	}
	if lim.N == 0 {
		b.files.Remove(sum) // cannot be: it hashed to sum, yet is too large
		return errors.New("sent more bytes than a body may have")
	}
	return nil
}

// remove deletes the body sum on the peer at addr.
func (b *bodies) remove(ctx context.Context, addr, sum string) error {
	resp, err := b.do(ctx, http.MethodDelete, addr, sum, nil, 0)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return answer(resp)
	}
	return nil
}

// push sends the body to one peer, retrying a few times for a peer that
// is restarting or briefly unreachable; a 4xx answer is final.
func (b *bodies) push(ctx context.Context, addr, sum string) error {
	slot := b.slot(addr)
	delay := pushBackoff
	for attempt := 1; ; attempt++ {
		var err error
		select {
		case slot <- struct{}{}:
			err = b.put(ctx, addr, sum)
			<-slot
		case <-ctx.Done():
			err = ctx.Err()
		}
		var se *statusError
		if err == nil || attempt == pushAttempts || ctx.Err() != nil ||
			(errors.As(err, &se) && se.code < 500) {
			return err
		}
		select {
		case <-time.After(delay):
			delay *= 2
		case <-ctx.Done():
			return err
		}
	}
}

func (b *bodies) slot(addr string) chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.slots[addr]
	if s == nil {
		s = make(chan struct{}, peerSlots)
		b.slots[addr] = s
	}
	return s
}

// withLife returns ctx, also ended when the node shuts down.
func (b *bodies) withLife(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.life, cancel)
	return ctx, func() { stop(); cancel() }
}

// peer is another member, as far as bodies are concerned.
type peer struct {
	id, addr string
	voter    bool
}

func (p peer) String() string { return p.id + " (" + p.addr + ")" }

// members returns the other members of the current Raft configuration,
// the leader first, and whether this node is a voter.
func (n *Node) members() (others []peer, selfVoter bool, voters int, err error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, false, 0, fmt.Errorf("cluster: reading the configuration: %w", err)
	}
	_, leader := n.raft.LeaderWithID()
	for _, s := range f.Configuration().Servers {
		voter := s.Suffrage == raft.Voter
		if voter {
			voters++
		}
		if string(s.ID) == n.cfg.ID {
			selfVoter = voter
			continue
		}
		p := peer{id: string(s.ID), addr: string(s.Address), voter: voter}
		if s.ID == leader {
			others = append([]peer{p}, others...)
		} else {
			others = append(others, p)
		}
	}
	return others, selfVoter, voters, nil
}

// PushBody copies the local body sum, already committed to the node's
// Files, to every other voter in parallel. It returns nil once, with this
// node, a majority of the voters hold it fsynced, and keeps copying to the
// rest in the background for as long as the node runs (failures are
// logged). It fails when a majority cannot be reached before ctx ends.
func (n *Node) PushBody(ctx context.Context, sum string) error {
	b := n.bodies
	if b.files == nil {
		return errBodiesOff
	}
	if !validSum(sum) {
		return fmt.Errorf("cluster: push body %q: not a lowercase hex SHA-256", sum)
	}
	f, err := b.files.Open(sum)
	if err != nil {
		return fmt.Errorf("cluster: push body: %w", err)
	}
	f.Close()
	others, selfVoter, voters, err := n.members()
	if err != nil {
		return err
	}
	need := voters/2 + 1
	if selfVoter {
		need--
	}
	var targets []peer
	for _, p := range others {
		if p.voter {
			targets = append(targets, p)
		}
	}
	if need > len(targets) {
		return fmt.Errorf("cluster: push body %s: %d voters, too few to hold it on a majority", sum, voters)
	}
	acks := make(chan error, len(targets)) // buffered: pushes outlive this call
	for _, p := range targets {
		started := b.run(func() {
			err := b.push(b.life, p.addr, sum)
			if err != nil {
				err = fmt.Errorf("%s: %w", p, err)
				b.log.Warn("cluster: pushing a body", "sum", sum, "peer", p.id, "err", err)
			}
			acks <- err
		})
		if !started {
			acks <- fmt.Errorf("%s: node shutting down", p)
		}
	}
	if need <= 0 {
		return nil
	}
	got := 0
	var errs []error
	for range targets {
		select {
		case err := <-acks:
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if got++; got >= need {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("cluster: push body %s: %d of the %d peer copies a majority needs: %w",
				sum, got, need, errors.Join(append([]error{context.Cause(ctx)}, errs...)...))
		}
	}
	return fmt.Errorf("cluster: push body %s: %d of the %d peer copies a majority needs: %w",
		sum, got, need, errors.Join(errs...))
}

// FetchBody copies the body sum from another member (the leader first,
// then the others in turn) into the node's Files, checking its SHA-256
// before placing it. A copy already here is enough.
func (n *Node) FetchBody(ctx context.Context, sum string) error {
	b := n.bodies
	if b.files == nil {
		return errBodiesOff
	}
	if !validSum(sum) {
		return fmt.Errorf("cluster: fetch body %q: not a lowercase hex SHA-256", sum)
	}
	if f, err := b.files.Open(sum); err == nil {
		f.Close()
		return nil
	}
	// Held while writing to Files, so Shutdown waits for it.
	if !b.gate.TryRLock() {
		return fmt.Errorf("cluster: fetch body %s: node shutting down", sum)
	}
	defer b.gate.RUnlock()
	others, _, _, err := n.members()
	if err != nil {
		return err
	}
	if len(others) == 0 {
		return fmt.Errorf("cluster: fetch body %s: no other member to fetch it from", sum)
	}
	ctx, cancel := b.withLife(ctx)
	defer cancel()
	var errs []error
	for _, p := range others {
		err := b.get(ctx, p.addr, sum)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errAbsent) {
			b.log.Warn("cluster: fetching a body", "sum", sum, "peer", p.id, "err", err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", p, err))
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("cluster: fetch body %s: no member gave it: %w", sum, errors.Join(errs...))
}

// RemoveBodies deletes the bodies sums on every other member, for the
// retention purge (which removes the leader's own files). It is best
// effort: failures are logged, and it returns when every member has been
// tried or ctx ends.
func (n *Node) RemoveBodies(ctx context.Context, sums []string) {
	b := n.bodies
	if b.files == nil {
		b.log.Warn("cluster: removing bodies on peers", "err", errBodiesOff)
		return
	}
	if len(sums) == 0 {
		return
	}
	others, _, _, err := n.members()
	if err != nil {
		b.log.Warn("cluster: removing bodies on peers", "err", err)
		return
	}
	ctx, cancel := b.withLife(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range others {
		wg.Add(1)
		started := b.run(func() {
			defer wg.Done()
			failed := 0
			var first error
			for _, sum := range sums {
				if ctx.Err() != nil {
					failed++
					continue
				}
				if err := b.remove(ctx, p.addr, sum); err != nil {
					if failed++; first == nil {
						first = fmt.Errorf("%s: %w", sum, err)
					}
				}
			}
			if failed > 0 {
				b.log.Warn("cluster: removing bodies on a peer", "peer", p.id, "failed", failed, "of", len(sums), "first", first)
			}
		})
		if !started {
			wg.Done()
		}
	}
	wg.Wait()
}

// logger is the node's logger, or one that discards.
func (n *Node) logger() *slog.Logger {
	if n.cfg.Logger != nil {
		return n.cfg.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func validSum(s string) bool {
	if len(s) != 64 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}

// idleConn fails a read or write that makes no progress for idleTimeout.
type idleConn struct{ net.Conn }

func (c idleConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(idleTimeout))
	return c.Conn.Read(p)
}

func (c idleConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(idleTimeout))
	return c.Conn.Write(p)
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

type writeFunc func([]byte) (int, error)

func (f writeFunc) Write(p []byte) (int, error) { return f(p) }
