package client_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ndxp/ndxp/client"
	"github.com/ndxp/ndxp/internal/pki"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
	"github.com/ndxp/ndxp/server"
)

// exampleHub starts a development hub in a temporary directory, registers
// two agencies and writes their credentials files, as an operator would
// with `ndxpd --dev`, `ndxpctl agency add` and `ndxpctl credential issue`.
// It returns the two files and a function that stops the hub.
func exampleHub() (senderCreds, recipientCreds string, stop func()) {
	dir, err := os.MkdirTemp("", "ndxp-example-")
	if err != nil {
		log.Fatal(err)
	}
	cfg := server.DefaultConfig()
	cfg.Dev, cfg.DataDir, cfg.Listen, cfg.HTTP = true, dir, "127.0.0.1:0", ""
	cfg.LogLevel = "error"
	d, err := server.Start(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	admin, err := client.Dial(ctx, d.AdminCredsPath())
	if err != nil {
		log.Fatal(err)
	}
	defer admin.Close()
	issue := func(code, name string) string {
		if _, err := admin.Registry.CreateAgency(ctx, &ndxpv1.CreateAgencyRequest{
			Agency: &ndxpv1.Agency{Code: code, Name: name, Stage: ndxpv1.Stage_STAGE_PILOT},
		}); err != nil {
			log.Fatal(err)
		}
		csr, key, err := pki.NewCSR(pki.AgencyIdentity(code))
		if err != nil {
			log.Fatal(err)
		}
		resp, err := admin.Registry.IssueCredential(ctx, &ndxpv1.IssueCredentialRequest{Code: code, Csr: csr})
		if err != nil {
			log.Fatal(err)
		}
		path := filepath.Join(dir, code+".creds")
		if err := pki.WriteCreds(path, resp.GetHubAddress(), resp.GetCaPem(), resp.GetCertificatePem(), key); err != nil {
			log.Fatal(err)
		}
		return path
	}
	g22 := issue("000.00.00.G22", "Văn phòng Chính phủ")
	h41 := issue("000.00.00.H41", "UBND tỉnh Nghệ An")
	return g22, h41, func() { d.Close(); os.RemoveAll(dir) }
}

// An agency system sends a document with an attachment; the recipient's
// system receives it, stores it, and reports that it was accepted.
func Example() {
	g22Creds, h41Creds, stop := exampleHub()
	defer stop()
	ctx := context.Background()

	sender, err := client.Dial(ctx, g22Creds)
	if err != nil {
		log.Fatal(err)
	}
	defer sender.Close()
	receipt, err := sender.Send(ctx, &ndxpv1.DocumentHeader{
		Recipients:       []string{"000.00.00.H41"},
		Subject:          "Về việc triển khai Chính phủ điện tử",
		Number:           "7816",
		Notation:         "VPCP-TTĐT",
		PromulgationDate: "2026-11-26",
		DocumentType:     "Công văn",
	}, []client.Attachment{{Name: "cong-van.txt", MediaType: "text/plain", Body: strings.NewReader("Kính gửi UBND tỉnh Nghệ An")}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("reference:", receipt.GetReference())

	recipient, err := client.Dial(ctx, h41Creds)
	if err != nil {
		log.Fatal(err)
	}
	defer recipient.Close()
	// UntilCaughtUp: take what is queued and return; without it Subscribe
	// keeps waiting for new documents and reconnects on its own.
	err = recipient.Subscribe(ctx, func(ctx context.Context, ev *ndxpv1.Event) error {
		doc := ev.GetDocument()
		var body bytes.Buffer // a real system writes to its own storage
		if _, err := recipient.Fetch(ctx, ev.GetDocumentId(), 0, &body); err != nil {
			return err // not acknowledged: the event comes again
		}
		fmt.Printf("from %s: %s (%s)\n", doc.GetSenderCode(), doc.GetHeader().GetSubject(), body.String())
		return nil // acknowledged: the hub records status 01 for the sender
	}, client.UntilCaughtUp())
	if err != nil {
		log.Fatal(err)
	}
	if _, err := recipient.Report(ctx, client.Status{DocumentID: receipt.GetDocumentId(), Code: "03"}); err != nil {
		log.Fatal(err)
	}

	trace, err := sender.Trace(ctx, receipt.GetDocumentId())
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range trace.GetRecipients() {
		fmt.Printf("%s: %s %s\n", r.GetRecipientCode(), r.GetStatus(), r.GetStatusText())
	}
	// Output:
	// reference: 000.00.00.G22,2026/11/26,7816/VPCP-TTĐT
	// from 000.00.00.G22: Về việc triển khai Chính phủ điện tử (Kính gửi UBND tỉnh Nghệ An)
	// 000.00.00.H41: 03 accepted
}

// A sender follows what recipients do with its documents: each status they
// report arrives as an event.
func ExampleClient_Subscribe() {
	g22Creds, h41Creds, stop := exampleHub()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sender, _ := client.Dial(ctx, g22Creds)
	defer sender.Close()
	recipient, _ := client.Dial(ctx, h41Creds)
	defer recipient.Close()

	r, err := sender.Send(ctx, &ndxpv1.DocumentHeader{Recipients: []string{"000.00.00.H41"}, Subject: "Báo cáo", Number: "12/BC"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	ack := func(context.Context, *ndxpv1.Event) error { return nil }
	if err := recipient.Subscribe(ctx, ack, client.UntilCaughtUp()); err != nil {
		log.Fatal(err)
	}
	for _, code := range []string{"03", "06"} {
		if _, err := recipient.Report(ctx, client.Status{DocumentID: r.GetDocumentId(), Code: code}); err != nil {
			log.Fatal(err)
		}
	}
	err = sender.Subscribe(ctx, func(_ context.Context, ev *ndxpv1.Event) error {
		s := ev.GetStatus()
		fmt.Printf("%s reported %s\n", s.GetRecipientCode(), s.GetCode())
		return nil
	}, client.UntilCaughtUp())
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// 000.00.00.H41 reported 01
	// 000.00.00.H41 reported 03
	// 000.00.00.H41 reported 06
}
