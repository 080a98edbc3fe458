package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ndxp/ndxp/internal/hubtest"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// The end-to-end test runs the real binaries: ndxpd in dev mode on
// loopback ports, ndxpctl to register two agencies and issue their
// credentials, and ndxp as the agencies would, checking stdout, stderr,
// exit codes, the files written and the signal handling of --follow.

const (
	codeVPCP   = "000.00.00.G22" // Văn phòng Chính phủ, the sender
	codeNgheAn = "000.00.00.H41" // UBND tỉnh Nghệ An, the recipient
)

type e2e struct {
	t         *testing.T
	bin, data string
	grpc, web string
	hub       *exec.Cmd
	hubLog    *hubtest.SyncBuffer
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binaries")
	}
	e := &e2e{t: t, bin: t.TempDir(), data: t.TempDir(), grpc: freeAddr(t), web: freeAddr(t)}
	build := exec.Command("go", "build", "-o", e.bin+string(filepath.Separator),
		"github.com/ndxp/ndxp/cmd/ndxp", "github.com/ndxp/ndxp/cmd/ndxpd", "github.com/ndxp/ndxp/cmd/ndxpctl")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	e.startHub()
	t.Cleanup(e.stopHub)

	admin := filepath.Join(e.data, "admin.creds")
	e.ok("ndxpctl", "--creds", admin, "agency", "add", codeVPCP, "--name", "Văn phòng Chính phủ", "--stage", "production")
	e.ok("ndxpctl", "--creds", admin, "agency", "add", codeNgheAn, "--name", "UBND tỉnh Nghệ An", "--stage", "production")
	vpcp, ngheAn := filepath.Join(e.bin, "vpcp.creds"), filepath.Join(e.bin, "nghean.creds")
	e.ok("ndxpctl", "--creds", admin, "credential", "issue", codeVPCP, "--out", vpcp)
	e.ok("ndxpctl", "--creds", admin, "credential", "issue", codeNgheAn, "--out", ngheAn)

	files := t.TempDir()
	pdf := filepath.Join(files, "cong-van.pdf")
	big := bytes.Repeat([]byte("Trục liên thông văn bản quốc gia. "), 40000) // over 1 MiB: several chunks
	writeTestFile(t, pdf, big)
	odd := filepath.Join(files, "header.json") // collides with the saved header
	writeTestFile(t, odd, []byte(`{"not": "the header"}`))

	// Send, and send again: the retry is recognised.
	sendArgs := []string{"--creds", vpcp, "send", "--to", codeNgheAn, "--subject", "Về việc triển khai Trục liên thông",
		"--number", "7816/VPCP-TTĐT", "--type", "Công văn", "--priority", "1", "--date", "2025-09-30", pdf, odd}
	out, _ := e.ok("ndxp", sendArgs...)
	id := strings.TrimSpace(out)
	if id == "" || strings.ContainsAny(id, " \t\n") {
		t.Fatalf("send printed %q; want the document id alone", out)
	}
	out, errOut := e.ok("ndxp", sendArgs...)
	if strings.TrimSpace(out) != id || !strings.Contains(errOut, "already accepted as "+id) {
		t.Errorf("resend: stdout %q, stderr %q; want the same id and a note", out, errOut)
	}
	if _, errOut, code := e.run("ndxp", "--creds", vpcp, "send", "--subject", "x"); code != 2 || strings.Count(errOut, "\n") != 1 {
		t.Errorf("send without --to: exit %d, stderr %q; want 2 and one line", code, errOut)
	}

	// The hub refuses text that would drive a terminal or hide what it
	// says, naming the field and the character; the CLI prints the
	// refusal on one line, escaped.
	for _, bad := range [][]string{
		{"--subject", "Về việc\u202egnp.exe", "subject", "U+202E"},
		{"--content", "Kính gửi\x1b]0;owned\x07", "content", "U+001B"},
		{"--signer", "Nguyễn\u200bVăn A", "signer.full_name", "U+200B"},
	} {
		args := []string{"--creds", vpcp, "send", "--to", codeNgheAn, "--subject", "Về việc", "--number", "9999", bad[0], bad[1]}
		_, errOut, code := e.run("ndxp", args...)
		if code != 1 || !strings.Contains(errOut, bad[2]+": ") || !strings.Contains(errOut, bad[3]) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("send %s %q: exit %d, stderr %q; want 1 and one line naming %s and %s", bad[0], bad[1], code, errOut, bad[2], bad[3])
		}
		if strings.ContainsAny(errOut, "\x1b\u202e\u200b") {
			t.Errorf("send %s: stderr %q holds the character raw", bad[0], errOut)
		}
	}

	// The recipient takes its queue and exits.
	inbox := t.TempDir()
	out, _ = e.ok("ndxp", "--creds", ngheAn, "receive", "--out", inbox)
	if want := id + "\t" + codeVPCP + "\tVề việc triển khai Trục liên thông\n"; out != want {
		t.Errorf("receive printed %q; want %q", out, want)
	}
	saved := filepath.Join(inbox, id)
	if got, err := os.ReadFile(filepath.Join(saved, "cong-van.pdf")); err != nil || !bytes.Equal(got, big) {
		t.Errorf("cong-van.pdf: %d bytes, %v; want the %d bytes sent", len(got), err, len(big))
	}
	if got, err := os.ReadFile(filepath.Join(saved, "attachment-1")); err != nil || string(got) != `{"not": "the header"}` {
		t.Errorf("attachment-1 = %q, %v", got, err)
	}
	var doc ndxpv1.Document
	if data, err := os.ReadFile(filepath.Join(saved, "header.json")); err != nil {
		t.Error(err)
	} else if err := protojson.Unmarshal(data, &doc); err != nil {
		t.Errorf("header.json: %v", err)
	} else if doc.GetId() != id || doc.GetHeader().GetNotation() != "VPCP-TTĐT" || doc.GetSenderCode() != codeVPCP {
		t.Errorf("header.json holds %v", &doc)
	}
	if out, _ = e.ok("ndxp", "--creds", ngheAn, "receive", "--out", inbox); out != "" {
		t.Errorf("second receive printed %q; want nothing", out)
	}

	// Statuses, one out of order.
	e.ok("ndxp", "--creds", ngheAn, "status", id, "--code", "03", "--staff", "Trần Thị B")
	e.ok("ndxp", "--creds", ngheAn, "status", id, "--code", "06")
	if _, errOut, code := e.run("ndxp", "--creds", ngheAn, "status", id, "--code", "04"); code != 1 || !strings.Contains(errOut, "06") {
		t.Errorf("status 04 after 06: exit %d, stderr %q; want 1 naming the current status", code, errOut)
	}

	// The sender sees them arrive, and in the trace.
	out, _ = e.ok("ndxp", "--creds", vpcp, "receive", "--out", t.TempDir())
	for _, code := range []string{"01", "03", "06"} {
		if want := id + "\tstatus\t" + codeNgheAn + "\t" + code + "\t"; !strings.Contains(out, want) {
			t.Errorf("sender's receive printed %q; want a line starting %q", out, want)
		}
	}
	out, _ = e.ok("ndxp", "--creds", vpcp, "trace", id, "-o", "json")
	var tr struct {
		Recipients []map[string]any `json:"recipients"`
	}
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatalf("trace -o json: %v\n%s", err, out)
	}
	if len(tr.Recipients) != 1 || tr.Recipients[0]["recipient_code"] != codeNgheAn || tr.Recipients[0]["status"] != "06" {
		t.Errorf("trace recipients = %v; want %s at 06", tr.Recipients, codeNgheAn)
	}
	out, _ = e.ok("ndxp", "--creds", vpcp, "sent", "-o", "json")
	var sent []summaryView
	if err := json.Unmarshal([]byte(out), &sent); err != nil || len(sent) != 1 || sent[0].DocumentID != id {
		t.Errorf("sent -o json = %s (%v); want one document %s", out, err, id)
	}

	// Following: documents, a recall, a hub restart, then SIGINT ends it with 0.
	follow := e.command("ndxp", "--creds", ngheAn, "receive", "--out", inbox, "--follow")
	stdout, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var followErr hubtest.SyncBuffer
	follow.Stderr = &followErr
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if follow.ProcessState == nil {
			follow.Process.Kill()
			follow.Wait()
		}
	})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(what string) string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("receive --follow ended before %s; stderr:\n%s", what, followErr.String())
			}
			return l
		case <-time.After(20 * time.Second):
			follow.Process.Kill()
			t.Fatalf("no line for %s; stderr:\n%s", what, followErr.String())
		}
		return ""
	}
	out, _ = e.ok("ndxp", "--creds", vpcp, "send", "--to", codeNgheAn, "--subject", "Thứ hai")
	id2 := strings.TrimSpace(out)
	if l := next("the second document"); !strings.HasPrefix(l, id2+"\t") {
		t.Errorf("follow printed %q; want the second document %s", l, id2)
	}
	e.ok("ndxp", "--creds", vpcp, "recall", id2, "--reason", "Ban hành nhầm")
	if l, want := next("the recall"), id2+"\trecalled\tBan hành nhầm"; l != want {
		t.Errorf("follow printed %q; want %q", l, want)
	}
	if _, err := os.Stat(filepath.Join(inbox, id2, "recall.json")); err != nil {
		t.Errorf("recall.json: %v", err)
	}

	e.stopHub()
	e.startHub()
	out, _ = e.ok("ndxp", "--creds", vpcp, "send", "--to", codeNgheAn, "--subject", "Sau khi khởi động lại")
	id3 := strings.TrimSpace(out)
	if l := next("the document sent after the restart"); !strings.HasPrefix(l, id3+"\t") {
		t.Errorf("follow printed %q; want %s", l, id3)
	}
	follow.Process.Signal(os.Interrupt)
	for range lines {
	}
	if err := follow.Wait(); err != nil {
		t.Errorf("receive --follow after SIGINT: %v; want exit 0; stderr:\n%s", err, followErr.String())
	}
	if !strings.Contains(followErr.String(), "connection lost") || strings.Count(followErr.String(), "connected") < 2 {
		t.Errorf("receive --follow stderr does not show the reconnect:\n%s", followErr.String())
	}
}

func (e *e2e) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(e.bin, name), args...)
	cmd.Env = append(os.Environ(), "NDXP_CREDS=")
	return cmd
}

// run runs a binary and returns its stdout, stderr and exit code.
func (e *e2e) run(name string, args ...string) (string, string, int) {
	e.t.Helper()
	cmd := e.command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		e.t.Fatalf("%s %q: %v", name, args, err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// ok runs a binary that must succeed.
func (e *e2e) ok(name string, args ...string) (string, string) {
	e.t.Helper()
	stdout, stderr, code := e.run(name, args...)
	if code != 0 {
		e.t.Fatalf("%s %q: exit %d\nstderr: %s\nhub log:\n%s", name, args, code, stderr, e.hubLog)
	}
	return stdout, stderr
}

func (e *e2e) startHub() {
	e.t.Helper()
	e.hubLog = &hubtest.SyncBuffer{}
	e.hub = e.command("ndxpd", "--dev", "--data", e.data, "--listen", e.grpc, "--http", e.web)
	e.hub.Stdout, e.hub.Stderr = e.hubLog, e.hubLog
	if err := e.hub.Start(); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + e.web + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("hub not ready: %v\n%s", err, e.hubLog)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *e2e) stopHub() {
	if e.hub == nil {
		return
	}
	e.hub.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- e.hub.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			e.t.Errorf("ndxpd exit: %v\n%s", err, e.hubLog)
		}
	case <-time.After(30 * time.Second):
		e.hub.Process.Kill()
		<-done
		e.t.Errorf("ndxpd did not stop on SIGTERM\n%s", e.hubLog)
	}
	e.hub = nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(fmt.Errorf("write %s: %w", path, err))
	}
}
