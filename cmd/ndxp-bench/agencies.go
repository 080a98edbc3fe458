package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/pki"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// Group-4 letters of the benchmark's agencies, one per role so the roles
// never collide. Real registries use G (central bodies), H (provinces)
// and a few others; these letters are valid in the standard's form but
// unassigned, so a benchmark against a hub holding real agencies does
// not touch them.
const (
	letterSender   = 'S'
	letterReceiver = 'R'
	letterIdle     = 'I'
	letterList     = 'L'
	letterProbe    = 'P'
)

// maxCodes is how many codes codeFor can make for one letter.
const maxCodes = 99 * 100 * 100 * 1000

// codeFor returns the i-th (from 0) code of the family with group-4
// letter: first the 99 level-1 bodies 000.00.00.X01 … X99, then their
// level-4 children 000.00.01.X01 …, then level 3 and 2 as i grows.
// A code's parent (its deepest non-zero group set to zeros) always has a
// smaller index, so registering in index order registers parents first
// and the listing holds a real hierarchy.
func codeFor(letter byte, i int) string {
	body := i%99 + 1
	j := i / 99
	g3 := j % 100
	j /= 100
	g2 := j % 100
	g1 := j / 100
	return fmt.Sprintf("%03d.%02d.%02d.%c%02d", g1, g2, g3, letter, body)
}

func codeList(letter byte, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = codeFor(letter, i)
	}
	return out
}

// importBatch is the number of agencies per ImportAgencies call.
const importBatch = 10_000

// register imports the agencies in batches, in order. A batch whose first
// and last codes are already registered is skipped, so a run against an
// existing hub can reuse the agencies of an earlier run.
func register(ctx context.Context, admin *client.Client, list []string, name string) (created int, err error) {
	for from := 0; from < len(list); from += importBatch {
		batch := list[from:min(from+importBatch, len(list))]
		if registered(ctx, admin, batch[0]) && registered(ctx, admin, batch[len(batch)-1]) {
			continue
		}
		n, err := importAgencies(ctx, admin, batch, name)
		if status.Code(err) == codes.AlreadyExists {
			// Some of the batch is registered (an earlier, different run
			// against this hub): import the rest.
			var missing []string
			for _, c := range batch {
				if !registered(ctx, admin, c) {
					missing = append(missing, c)
				}
			}
			n, err = 0, nil
			if len(missing) > 0 {
				n, err = importAgencies(ctx, admin, missing, name)
			}
		}
		if err != nil {
			return created, fmt.Errorf("import agencies %s…%s: %w", batch[0], batch[len(batch)-1], err)
		}
		created += n
	}
	return created, nil
}

func importAgencies(ctx context.Context, admin *client.Client, list []string, name string) (int, error) {
	req := &ndxpv1.ImportAgenciesRequest{Agencies: make([]*ndxpv1.Agency, len(list))}
	for i, c := range list {
		req.Agencies[i] = &ndxpv1.Agency{Code: c, Name: fmt.Sprintf("%s %s", name, c), Stage: ndxpv1.Stage_STAGE_PILOT}
	}
	resp, err := admin.Registry.ImportAgencies(ctx, req)
	return int(resp.GetCreated()), err
}

// registered reports whether code is registered. Any error but NotFound
// also says false: the import that follows then reports the real cause.
func registered(ctx context.Context, admin *client.Client, code string) bool {
	_, err := admin.Registry.GetAgency(ctx, &ndxpv1.GetAgencyRequest{Code: code})
	return err == nil
}

// issuer issues agency credentials the way ndxpctl does: the key and CSR
// are made here and only the CSR goes to the hub.
type issuer struct {
	admin    *client.Client
	dir      string // where credentials files are written
	addr     string // hub address to write when the hub names none
	parallel int
}

// issue issues one credential per code, parallel at a time, and returns
// the credentials files in the order of codes.
func (is *issuer) issue(ctx context.Context, list []string) ([]string, error) {
	if err := os.MkdirAll(is.dir, 0o700); err != nil {
		return nil, err
	}
	paths := make([]string, len(list))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, is.parallel)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(is.parallel, len(list)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(list) || ctx.Err() != nil {
					return
				}
				p, err := is.one(ctx, list[i])
				if err != nil {
					errs <- err
					cancel()
					return
				}
				paths[i] = p
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return paths, ctx.Err()
}

func (is *issuer) one(ctx context.Context, code string) (string, error) {
	csr, keyPEM, err := pki.NewCSR(pki.AgencyIdentity(code))
	if err != nil {
		return "", err
	}
	resp, err := is.admin.Registry.IssueCredential(ctx, &ndxpv1.IssueCredentialRequest{Code: code, Csr: csr})
	if err != nil {
		return "", fmt.Errorf("issue credential for %s: %w", code, err)
	}
	addr := resp.GetHubAddress()
	if addr == "" {
		addr = is.addr
	}
	// EncodeCreds and a plain write rather than WriteCreds: these files
	// are scratch, and WriteCreds's fsync per file would make issuing
	// 10,000 credentials measure the bench machine's disk.
	data, err := pki.EncodeCreds(addr, resp.GetCaPem(), resp.GetCertificatePem(), keyPEM)
	if err != nil {
		return "", err
	}
	path := filepath.Join(is.dir, code+".creds")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// dialAll dials one client per credentials file at addr (lazy: gRPC
// connects on first use).
func dialAll(ctx context.Context, paths []string, addr string, opts ...client.Option) ([]*client.Client, error) {
	out := make([]*client.Client, 0, len(paths))
	opts = append([]client.Option{client.WithAddress(addr)}, opts...)
	for _, p := range paths {
		c, err := client.Dial(ctx, p, opts...)
		if err != nil {
			closeAll(out)
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func closeAll(cs []*client.Client) {
	for _, c := range cs {
		c.Close()
	}
}
