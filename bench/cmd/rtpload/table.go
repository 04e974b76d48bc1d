//go:build linux

package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// printTables writes the fixed loads with ratios natdoc/rtpengine, and the
// step-up with each relay's loss-free maximum.
func printTables(w io.Writer, o *options, fixed []result, steps map[string][]result) {
	fmt.Fprintf(w, "\nRTP relay benchmark: 172-byte packets, 50/s per stream, both directions, %s window after %s warm-up, loopback\n\n", o.duration, o.warmup)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "calls\trelay\ttarget pps\tdelivered pps\tlost\tloss %\tp50 µs\tp99 µs\tmax µs\trelay CPU % core\tCPU µs/pkt\tcore busy %\tcore softirq %\tmachine busy %\tmachine µs/pkt\tadded machine µs/pkt\tadded relay+gen+softirq µs/pkt\tgen CPU µs/pkt\tgen lag ms\t")
	for _, r := range fixed {
		if r.SetupErr != "" {
			fmt.Fprintf(tw, "%d\t%s\tsetup failed: %s\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\n", r.Calls, r.Relay, r.SetupErr)
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.0f\t%d\t%.3f\t%.0f\t%.0f\t%.0f\t%.1f\t%.2f\t%.0f\t%.0f\t%.0f\t%.2f\t%s\t%s\t%.2f\t%.1f\t\n",
			r.Calls, r.Relay, r.TargetPPS, r.DeliveredPPS, r.Lost, r.LossPct, r.P50us, r.P99us, r.MaxUs, r.CPUPct, r.CPUusPerPkt, r.CoreBusyPct, r.CoreSoftPct,
			r.MachineBusyPct, r.MachineUsPkt, added(r.AddedMachineUsPkt), added(r.AddedOwnUsPkt), r.GenCPUusPkt, r.GenLagMs)
	}
	tw.Flush()
	printRatios(w, o, fixed)
	printSteps(w, o, fixed, steps)
}

// printRatios writes each relay's figures against rtpengine's at each load.
func printRatios(w io.Writer, o *options, fixed []result) {
	fmt.Fprintf(w, "\nRatios to rtpengine (below 1 is better for natdoc, except delivered pps)\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "calls\trelay\tdelivered pps\tp50\tp99\tCPU µs/pkt\tadded machine µs/pkt\tadded relay+gen+softirq µs/pkt\tverdict\t")
	for _, calls := range o.loads {
		re := find(fixed, "rtpengine", calls)
		for _, name := range relayNames(o) {
			n := find(fixed, name, calls)
			if name == "rtpengine" || n == nil || re == nil || n.SetupErr != "" || re.SetupErr != "" {
				continue
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", calls, name, ratio(n.DeliveredPPS, re.DeliveredPPS), ratio(n.P50us, re.P50us),
				ratio(n.P99us, re.P99us), ratio(n.CPUusPerPkt, re.CPUusPerPkt), ratioAdded(n.AddedMachineUsPkt, re.AddedMachineUsPkt),
				ratioAdded(n.AddedOwnUsPkt, re.AddedOwnUsPkt), verdict(n, re))
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "\"added machine µs/pkt\": busy time of all cores (/proc/stat) per delivered packet, less the direct row's at the same load;")
	fmt.Fprintln(w, "it includes softirq work on the generator's core (where a kernel-forwarding relay does its work) and anything else running on the machine.")
	fmt.Fprintln(w, "\"added relay+gen+softirq µs/pkt\": the relay's and the generator's process CPU plus all cores' softirq time, per packet, less the direct row's")
	fmt.Fprintln(w, "generator + softirq: the same cost without other users' processes (a ratio is meaningful only where both figures are well above zero).")
	for _, r := range fixed {
		if r.Relay == "direct" && r.SetupErr == "" {
			fmt.Fprintf(w, "user-space floor at %d calls: the generator, without relay, spent %.2f µs of CPU per packet to send and receive it (batched sendmmsg/recvmmsg): what any relay pays per packet through the socket API here\n", r.Calls, r.GenCPUusPkt)
		}
	}
}

// printSteps writes the step-up and each relay's loss-free maximum.
func printSteps(w io.Writer, o *options, fixed []result, steps map[string][]result) {
	if len(steps) == 0 {
		return
	}
	fmt.Fprintf(w, "\nStep-up (each relay until its first lossy step)\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "relay\tcalls\ttarget pps\tdelivered pps\tlost\tloss %\tbacklog drops\tp99 µs\trelay CPU % core\tCPU µs/pkt\tcore busy %\tcore softirq %\tgen lag ms\t")
	maxes := map[string]int{}
	for _, name := range relayNames(o) {
		for _, r := range steps[name] {
			if r.SetupErr != "" {
				fmt.Fprintf(tw, "%s\t%d\tsetup failed: %s\t\t\t\t\t\t\t\t\t\t\t\n", r.Relay, r.Calls, r.SetupErr)
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%d\t%.3f\t%d\t%.0f\t%.1f\t%.2f\t%.0f\t%.0f\t%.1f\t\n", r.Relay, r.Calls, r.TargetPPS, r.DeliveredPPS, r.Lost, r.LossPct, r.BacklogDrops, r.P99us, r.CPUPct, r.CPUusPerPkt, r.CoreBusyPct, r.CoreSoftPct, r.GenLagMs)
		}
		maxes[name] = lossFreeMax(fixed, steps[name], name)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, name := range relayNames(o) {
		if _, ok := steps[name]; !ok {
			continue
		}
		fmt.Fprintf(w, "loss-free maximum %-14s %7d pps%s\n", name, maxes[name], limitNote(steps[name]))
	}
	for _, name := range relayNames(o) {
		if name != "rtpengine" && maxes["rtpengine"] > 0 && maxes[name] > 0 {
			fmt.Fprintf(w, "ratio %s/rtpengine: %.2f\n", name, float64(maxes[name])/float64(maxes["rtpengine"]))
		}
	}
}

// relayNames: the relays under test (not "direct"), in --targets order.
func relayNames(o *options) []string {
	var out []string
	for _, t := range o.targets {
		if !t.direct() {
			out = append(out, t.Name)
		}
	}
	return out
}

func added(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// lossFreeMax: the highest load measured without loss before the first
// lossy step (fixed loads count too).
func lossFreeMax(fixed, steps []result, name string) int {
	best := 0
	for _, r := range fixed {
		if r.Relay == name && r.SetupErr == "" && r.Lost == 0 && !r.genLimited() {
			best = max(best, r.TargetPPS)
		}
	}
	for _, r := range steps {
		if r.SetupErr != "" || r.Lost > 0 || r.genLimited() {
			break
		}
		best = max(best, r.TargetPPS)
	}
	return best
}

func limitNote(steps []result) string {
	if len(steps) == 0 {
		return ""
	}
	last := steps[len(steps)-1]
	switch {
	case last.SetupErr != "":
		return fmt.Sprintf(" (step-up ended at %d calls: setup failed)", last.Calls)
	case last.genLimited():
		return fmt.Sprintf(" (step-up ended at %d calls: the generator could not hold the rate, so the relay's limit is higher)", last.Calls)
	case last.Lost > 0:
		return fmt.Sprintf(" (first loss at %d pps: %.3f%%)", last.TargetPPS, last.LossPct)
	}
	return " (no loss at the highest step: the limit is higher)"
}

func find(rs []result, name string, calls int) *result {
	for i := range rs {
		if rs[i].Relay == name && rs[i].Calls == calls {
			return &rs[i]
		}
	}
	return nil
}

// ratioAdded: added costs are differences of two noisy measurements; a
// ratio to rtpengine's is printed only where rtpengine's is clearly above
// the noise (1 µs/pkt) and ours is not below zero.
func ratioAdded(a, b float64) string {
	if b < 1 || a < 0 {
		return "-"
	}
	return ratio(a, b)
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// verdict checks the targets at this load: CPU per packet at most
// half of rtpengine's (the process's, and the machine's added time when
// measured: a kernel-forwarding relay's process spends almost nothing), no
// loss, lower p99.
func verdict(n, re *result) string {
	var miss []string
	if re.CPUusPerPkt > 0 && n.CPUusPerPkt > re.CPUusPerPkt/2 {
		miss = append(miss, "CPU/pkt > ½ rtpengine")
	}
	if re.AddedOwnUsPkt > 0 && n.AddedOwnUsPkt > re.AddedOwnUsPkt/2 {
		miss = append(miss, "added CPU/pkt (relay+gen+softirq) > ½ rtpengine")
	}
	if n.Lost > 0 {
		miss = append(miss, "loss")
	}
	if n.P99us >= re.P99us {
		miss = append(miss, "p99 not lower")
	}
	if len(miss) == 0 {
		return "targets met"
	}
	return "missed: " + join(miss)
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
