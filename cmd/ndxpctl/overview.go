package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ndxp/ndxp/internal/cli"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// overviewView is the JSON shape of `ndxpctl overview`.
type overviewView struct {
	Total      int32     `json:"total"`
	Pending    int32     `json:"pending"`
	Pilot      int32     `json:"pilot"`
	Production int32     `json:"production"`
	Suspended  int32     `json:"suspended"`
	Online     int32     `json:"online"`
	Time       time.Time `json:"time"`
}

func viewOverview(o *ndxpv1.Overview) overviewView {
	return overviewView{Total: o.GetTotal(), Pending: o.GetPending(), Pilot: o.GetPilot(), Production: o.GetProduction(),
		Suspended: o.GetSuspended(), Online: o.GetOnline(), Time: o.GetTime().AsTime()}
}

func overviewFields(v overviewView) [][2]string {
	n := func(x int32) string { return strconv.Itoa(int(x)) }
	return [][2]string{
		{"Agencies", n(v.Total)}, {"  pending", n(v.Pending)}, {"  pilot", n(v.Pilot)}, {"  production", n(v.Production)},
		{"Suspended", n(v.Suspended)}, {"Online now", n(v.Online)},
	}
}

func overviewCmd(a *app) *cobra.Command {
	var watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "overview [--watch]",
		Short: "Count agencies: total, by stage, suspended, online now",
		Long: `Counts agencies in total, by stage, suspended and online now. With --watch it
follows the hub live: it redraws on the terminal (or prints one line per
change when the output is not a terminal) with today's traffic, the backlog
and open alerts, until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			if watch {
				return watchOverview(a, cmd, interval)
			}
			resp, err := c.Registry.GetOverview(cmd.Context(), &ndxpv1.GetOverviewRequest{})
			if err != nil {
				return err
			}
			v := viewOverview(resp.GetOverview())
			if a.json() {
				return cli.JSON(a.stdout, v)
			}
			return cli.Fields(a.stdout, overviewFields(v))
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "follow changes live until interrupted")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "with --watch: least time between two refreshes")
	return cmd
}

// watchView is one line of `overview --watch -o json`.
type watchView struct {
	overviewView
	DocumentsToday    int32      `json:"documents_today"`
	DeliveredToday    int32      `json:"delivered_today"`
	PendingDeliveries int32      `json:"pending_deliveries"`
	OldestPending     *time.Time `json:"oldest_pending,omitempty"`
	Alerts            int        `json:"alerts"`
}

func watchOverview(a *app, cmd *cobra.Command, interval time.Duration) error {
	ctx := cmd.Context()
	stream, err := a.c.Monitor.WatchSnapshot(ctx, &ndxpv1.WatchSnapshotRequest{MinInterval: durationpb.New(interval)})
	if err != nil {
		return err
	}
	tty := cli.IsTerminal(a.stdout)
	for {
		resp, err := stream.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: a normal end
			}
			if _, set := ctx.Deadline(); set && status.Code(err) == codes.DeadlineExceeded {
				// The hub may end the stream at the caller's deadline a
				// moment before the caller's own context says so.
				return nil
			}
			return err
		}
		s := resp.GetSnapshot()
		v := watchView{overviewView: viewOverview(s.GetOverview()), DocumentsToday: s.GetDocumentsToday(),
			DeliveredToday: s.GetDeliveredToday(), PendingDeliveries: s.GetPendingDeliveries(), Alerts: len(s.GetAlerts())}
		v.Time = s.GetTime().AsTime()
		if s.GetOldestPendingTime() != nil {
			t := s.GetOldestPendingTime().AsTime()
			v.OldestPending = &t
		}
		switch {
		case a.json():
			if err := cli.JSONLine(a.stdout, v); err != nil {
				return err
			}
		case tty:
			drawWatch(a.stdout, s, v)
		default:
			fmt.Fprintf(a.stdout, "%s total=%d pending=%d pilot=%d production=%d suspended=%d online=%d docs_today=%d pending_deliveries=%d alerts=%d\n",
				v.Time.Local().Format(time.TimeOnly), v.Total, v.Pending, v.Pilot, v.Production, v.Suspended, v.Online,
				v.DocumentsToday, v.PendingDeliveries, v.Alerts)
		}
	}
}

// drawWatch redraws the whole screen with the counts, a sparkline of the
// last hour and the oldest alerts.
func drawWatch(w io.Writer, s *ndxpv1.Snapshot, v watchView) {
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J")
	fmt.Fprintf(&b, "ndxp hub — %s (Ctrl-C to stop)\n\n", v.Time.Local().Format("2006-01-02 15:04:05"))
	cli.Fields(&b, overviewFields(v.overviewView))
	oldest := "-"
	if v.OldestPending != nil {
		oldest = time.Since(*v.OldestPending).Truncate(time.Second).String()
	}
	cli.Fields(&b, [][2]string{
		{"Documents today", strconv.Itoa(int(v.DocumentsToday))},
		{"Delivered today", strconv.Itoa(int(v.DeliveredToday))},
		{"Pending deliveries", strconv.Itoa(int(v.PendingDeliveries))},
		{"Oldest pending", oldest},
	})
	b.WriteString("\nDocuments per minute, last hour:\n  " + sparkline(s.GetPerMinute()) + "\n")
	fmt.Fprintf(&b, "\nAlerts: %d\n", len(s.GetAlerts()))
	for i, al := range s.GetAlerts() {
		if i == 10 {
			fmt.Fprintf(&b, "  … and %d more\n", len(s.GetAlerts())-10)
			break
		}
		// The clear-screen sequence above is ours; the alert's texts come
		// from the hub and must not drive the terminal (cli.Cell).
		fmt.Fprintf(&b, "  %s %s %s: %s\n", cli.Cell(al.GetAgencyCode()), cli.Cell(al.GetAgencyName()),
			cli.Cell(al.GetDocumentId()), cli.Cell(al.GetMessage()))
	}
	io.WriteString(w, b.String())
}

func sparkline(ms []*ndxpv1.MinuteTraffic) string {
	const bars = "▁▂▃▄▅▆▇█"
	peak := int32(0)
	for _, m := range ms {
		peak = max(peak, m.GetSent())
	}
	var b strings.Builder
	for _, m := range ms {
		if peak == 0 || m.GetSent() == 0 {
			b.WriteString(" ")
			continue
		}
		i := int(m.GetSent()) * (len([]rune(bars)) - 1) / int(peak)
		b.WriteRune([]rune(bars)[i])
	}
	fmt.Fprintf(&b, " (peak %d/min)", peak)
	return b.String()
}
