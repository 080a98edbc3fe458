package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ndxp/ndxp/internal/cli"
)

// printReport writes the report for people.
func printReport(w io.Writer, rep *report) error {
	o := rep.Config
	var kv [][2]string
	add := func(k, f string, a ...any) { kv = append(kv, [2]string{k, fmt.Sprintf(f, a...)}) }
	if f := rep.FsyncProbe; f != nil {
		add("disk", "%s p50 %.3f ms, p99 %.3f ms, max %.3f ms (%.0f/s) in %s", f.Syscall, f.P50MS, f.P99MS, f.MaxMS, f.PerSec, f.Dir)
	}
	if l := rep.ListAgencies; l != nil {
		add("list agencies", "imported %d in %.2f s; listed %d in %d pages of %d in %.3f s (hub CPU %s)",
			l.Imported, l.ImportSeconds, l.Listed, l.Pages, l.PageSize, l.Seconds, seconds(l.HubCPUSeconds))
	}
	if i := rep.IdleSubscribers; i != nil {
		add("idle subscribers", "%d: registered in %.2f s, credentials in %.2f s, all subscribed in %.2f s",
			i.Count, i.SecondsToRegister, i.SecondsToIssue, i.SecondsToSubscribe)
		add("hub with them", "RSS %s (%s), CPU %s to subscribe", memory(i.HubRSSBytes), signed(i.HubRSSGrowthBytes), seconds(i.HubCPUSeconds))
		if i.HoldSeconds > 0 {
			per, cpu := "unknown", "unknown"
			if i.HubRSSPerAgencyBytes != nil {
				per = fmt.Sprintf("%.1f KiB", float64(*i.HubRSSPerAgencyBytes)/1024)
			}
			if i.HubCPUMicrosPerAgencySec != nil {
				cpu = fmt.Sprintf("%.3f µs", *i.HubCPUMicrosPerAgencySec)
			}
			add("held idle", "%.1f s: RSS %s, %s and %s CPU a second per agency; 100,000 would take %s",
				i.HoldSeconds, memory(i.HubRSSAfterHoldBytes), per, cpu, memory(i.HubRSSProjected100kBytes))
		}
		if p := i.Probe; p != nil {
			l := p.LatencyMS
			add("probe", "%d of %d sent (%d errors) at %g/s delivered; send->handler p50 %.3f ms  p99 %.3f ms  max %.3f ms",
				p.Delivered, p.Sent, p.SendErrors, p.Rate, l.P50, l.P99, l.Max)
			if p.FirstError != "" {
				add("probe error", "%s", p.FirstError)
			}
		}
	}
	if o.Load {
		mode := "closed loop"
		if o.Rate > 0 {
			mode = fmt.Sprintf("open loop at %g/s", o.Rate)
		}
		add("load", "%d senders -> %d subscribers, %d B in %d attachment(s), %d recipient(s), %s, fetch %v",
			o.Senders, o.Subscribers, o.Size, o.Attachments, o.Recipients, mode, o.Fetch)
		add("sends", "%d (%.1f/s, %.2f MiB/s), %d errors", rep.Sends, rep.SendsPerSecond, rep.SendMiBPerSecond, rep.SendErrors)
		if rep.FirstError != "" {
			add("first error", "%s", rep.FirstError)
		}
		acked := "unknown"
		if rep.HubAckedDeliveries != nil {
			acked = fmt.Sprint(*rep.HubAckedDeliveries)
		}
		add("deliveries", "%d of %d (%.1f/s); acknowledged at the hub: %s", rep.Deliveries, rep.DeliveriesExpected, rep.DeliveriesPerSecond, acked)
		l := rep.SendLatencyMS
		add("send latency", "p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms", l.P50, l.P99, l.P999, l.Max)
		l = rep.E2ELatencyMS
		add("send->handler", "p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms", l.P50, l.P99, l.P999, l.Max)
		cores := ""
		if rep.HubCPUSeconds != nil && rep.DurationSeconds > 0 {
			cores = fmt.Sprintf(" (%.2f cores)", *rep.HubCPUSeconds/rep.DurationSeconds)
		}
		add("hub CPU", "%s%s; this process %s", seconds(rep.HubCPUSeconds), cores, seconds(rep.BenchCPUSeconds))
		add("hub RSS", "%s before, %s after (%s)", memory(rep.HubRSSBeforeBytes), memory(rep.HubRSSAfterBytes), signed(rep.HubRSSGrowthBytes))
		if s := rep.HubStore; s != nil {
			add("hub store", "%d commits (%.0f/s), %.2f writes a commit, %.3f ms a commit, %.3f fsyncs a document", s.Commits, s.CommitsPerSec, s.WritesPerCommit, s.CommitMSMean, s.FsyncsPerDocument)
		}
		if len(rep.HubRPC) > 0 {
			var parts []string
			for m, s := range rep.HubRPC {
				parts = append(parts, fmt.Sprintf("%s %d × %.3f ms", m[strings.LastIndexByte(m, '/')+1:], s.Calls, s.MSMean))
			}
			add("hub calls", "%s", strings.Join(slices.Sorted(slices.Values(parts)), ", "))
		}
		acks := "acknowledged at the hub"
		if !rep.AckedAtHub {
			acks = "handled (acknowledgements not confirmed)"
		}
		add("duration", "%.3f s: sending %.3f s, last delivery handled at %.3f s, all %s at %.3f s; setup %.2f s",
			rep.DurationSeconds, rep.SendSeconds, rep.HandlerSeconds, acks, rep.DeliverySeconds, rep.SetupSeconds)
	}
	add("hub peak RSS", "%s", memory(rep.HubPeakRSSBytes))
	if rep.WorkDir != "" {
		add("work directory", "%s", rep.WorkDir)
	}
	return cli.Fields(w, kv)
}

func seconds(v *float64) string {
	if v == nil {
		return "unknown"
	}
	return fmt.Sprintf("%.2f s", *v)
}

func memory(v *int64) string {
	if v == nil {
		return "unknown"
	}
	return mib(*v)
}

func signed(v *int64) string {
	if v == nil {
		return "growth unknown"
	}
	if *v >= 0 {
		return "+" + mib(*v)
	}
	return "-" + mib(-*v)
}
