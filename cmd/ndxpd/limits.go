package main

import (
	"github.com/spf13/pflag"

	"github.com/ndxp/ndxp/server"
)

// limitFlags binds the connection and per-caller limits (docs/security.md).
func limitFlags(f *pflag.FlagSet, cfg *server.Config) {
	l := &cfg.Limits
	f.IntVar(&cfg.MaxConns, "max-conns", cfg.MaxConns, "most gRPC connections open at once (0: the open-files limit less a reserve for the store and files)")
	f.IntVar(&cfg.MaxConnsPerHost, "max-conns-per-host", cfg.MaxConnsPerHost, "most gRPC connections open at once from one address (0: no limit)")
	f.Var(&cfg.HandshakeTimeout, "handshake-timeout", "close a connection that has not finished its TLS handshake by then")
	f.IntVar(&l.Uploads, "max-uploads", l.Uploads, "most concurrent SendDocument streams of one agency (0: no limit)")
	f.IntVar(&l.Fetches, "max-fetches", l.Fetches, "most concurrent FetchAttachment streams of one agency (0: no limit)")
	f.IntVar(&l.Watches, "max-watches", l.Watches, "most concurrent watch streams (WatchSnapshot, health, reflection) of one caller (0: no limit)")
	f.IntVar(&l.Backups, "max-backups", l.Backups, "most concurrent backups of one admin (0: no limit)")
	f.Var(&l.UploadIdle, "upload-idle", "abort an upload that sends nothing for this long, removing its temporary file (0: never)")
	f.Int64Var(&l.UploadMemory, "upload-memory", l.UploadMemory, "bytes of small attachments one upload may hold in memory; past it they go to a file (0: no limit)")
	f.IntVar(&l.HeaderBytes, "max-header-bytes", l.HeaderBytes, "largest document header, encoded (0: no limit)")
	f.IntVar(&l.ListBytes, "list-page-bytes", l.ListBytes, "largest page of a document list, by stored size (0: no limit)")
	f.Float64Var(&l.SendRate, "send-rate", l.SendRate, "documents a second one agency may send, sustained (0: no limit)")
	f.IntVar(&l.SendBurst, "send-burst", l.SendBurst, "documents one agency may send at once after a quiet spell")
	f.Int64Var(&l.SenderQuota, "sender-quota", l.SenderQuota, "bytes of one agency's documents waiting for delivery, counted once per recipient (0: no limit)")
	f.Int64Var(&l.RecipientQuota, "recipient-quota", l.RecipientQuota, "bytes of documents waiting for one recipient (0: no limit)")
}

// limitOverlay copies the limit flags given on the command line over a
// config file's settings.
func limitOverlay(dst *server.Config, flags server.Config) map[string]func() {
	d, l := &dst.Limits, flags.Limits
	return map[string]func(){
		"max-conns":          func() { dst.MaxConns = flags.MaxConns },
		"max-conns-per-host": func() { dst.MaxConnsPerHost = flags.MaxConnsPerHost },
		"handshake-timeout":  func() { dst.HandshakeTimeout = flags.HandshakeTimeout },
		"max-uploads":        func() { d.Uploads = l.Uploads },
		"max-fetches":        func() { d.Fetches = l.Fetches },
		"max-watches":        func() { d.Watches = l.Watches },
		"max-backups":        func() { d.Backups = l.Backups },
		"upload-idle":        func() { d.UploadIdle = l.UploadIdle },
		"upload-memory":      func() { d.UploadMemory = l.UploadMemory },
		"max-header-bytes":   func() { d.HeaderBytes = l.HeaderBytes },
		"list-page-bytes":    func() { d.ListBytes = l.ListBytes },
		"send-rate":          func() { d.SendRate = l.SendRate },
		"send-burst":         func() { d.SendBurst = l.SendBurst },
		"sender-quota":       func() { d.SenderQuota = l.SenderQuota },
		"recipient-quota":    func() { d.RecipientQuota = l.RecipientQuota },
	}
}
