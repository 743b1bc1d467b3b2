package main

import (
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/eembc"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/lab"
)

func newHealthCheck() *cobra.Command {
	var comprehensive, asJSON bool
	var inventory, leaseDir string
	var ids []string
	var timeout time.Duration
	var labf labFlags
	c := &cobra.Command{
		Use:   "health-check",
		Short: "Check every inventory board; update good/bad states and the quarantine leases honour",
		Long: `health-check checks every board of the inventory, simulated ones too, one after
another under a lease (a board someone else holds is reported busy): connect,
reset, hello, ping, the firmware version the inventory expects, and memory
sanity; --comprehensive adds a model upload, a short generation and a second
metrics read. A board that fails twice (before and after a reset) is bad: it is
quarantined, and leases pass it over until it passes again. Boards the
inventory marks maintenance or retired are listed, not checked. Every result is
journalled. The exit status is 1 when any board is bad. --device ID checks only
that board (repeat it for more): a quarantined board that passes is back in
service at once.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			store, es, closeStore, err := labStore(c, &labf, leaseDir)
			if err != nil {
				return err
			}
			defer closeStore()
			all, invPath, err := labBoards(c, es, inventory)
			if err != nil {
				return err
			}
			boards, err := pickBoards(all, ids, invPath)
			if err != nil {
				return err
			}
			j, err := openJournal(c)
			if err != nil {
				return err
			}
			l := &lab.Lab{Boards: boards, Store: store, Journal: j, Device: device.Options{Timeout: attemptTimeout(timeout)},
				EEMBC: eembc.Options{Timeout: timeout}} // an EEMBC command is sent once
			opts := lab.HealthOptions{Comprehensive: comprehensive}
			if comprehensive {
				opts.Model = fixtures.Llama2C(fixtures.Stories260K, fixtures.Seed)
			}
			results, err := l.HealthCheck(c.Context(), opts)
			if err != nil {
				return err
			}
			bad := 0
			for _, r := range results {
				if r.Verdict == lab.VerdictBad {
					bad++
				}
			}
			if asJSON {
				if results == nil {
					results = []lab.HealthResult{}
				}
				if err := writeJSON(c.OutOrStdout(), results); err != nil {
					return err
				}
			} else {
				printHealth(c, results, comprehensive)
			}
			if bad > 0 {
				verb, them := "is", "it"
				if bad > 1 {
					verb, them = "are", "them"
				}
				fmt.Fprintf(c.ErrOrStderr(), "%d of %s %s bad and quarantined: see the reasons above; fix and run health-check again, or mark %s `state: maintenance` in %s\n", bad, countOf(len(results), "board", "boards"), verb, them, invPath)
				return exitError(1)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&comprehensive, "comprehensive", false, "also upload the built-in model, run a short generation and read metrics again")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().StringVar(&inventory, "inventory", "", "inventory file (default $TINYPROF_INVENTORY, else the config directory's)")
	c.Flags().StringVar(&leaseDir, "lease-dir", "", "lease and quarantine directory (default the state directory's leases/)")
	c.Flags().StringArrayVar(&ids, "device", nil, "check only the board with this inventory id (repeatable)")
	c.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "how long to wait for each answer from a board, the one resend after silence included")
	labf.register(c)
	return c
}

// pickBoards returns the boards of inv that ids name, in the inventory's
// order, or all of them when ids is empty.
func pickBoards(boards []lab.Entry, ids []string, invPath string) ([]lab.Entry, error) {
	if len(ids) == 0 {
		return boards, nil
	}
	var out []lab.Entry
	for _, e := range boards {
		if slices.Contains(ids, e.ID) {
			out = append(out, e)
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(boards, func(e lab.Entry) bool { return e.ID == id }) {
			return nil, usageError{fmt.Errorf("--device %s: no such board in %s", id, invPath)}
		}
	}
	return out, nil
}

func printHealth(c *cobra.Command, results []lab.HealthResult, comprehensive bool) {
	tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 0, 2, ' ', 0)
	head := "BOARD\tPLATFORM\tSTATE\tFIRMWARE\tPING\tFREE HEAP"
	if comprehensive {
		head += "\tDECODE\tP95"
	}
	fmt.Fprintln(tw, head+"\tNOTES")
	for _, r := range results {
		ping, heapFree, fw := "-", "-", dash(r.Firmware)
		if r.PingMS > 0 {
			ping = fmt.Sprintf("%.2f ms", r.PingMS)
		}
		if r.FreeHeap > 0 {
			heapFree = fmt.Sprintf("%s of %s", kib(int64(r.FreeHeap)), kib(int64(r.SRAM)))
		}
		notes := r.Reason
		if r.Simulated {
			notes = joinNote(notes, "simulated: figures modelled, not measured")
		}
		if r.Verdict == lab.VerdictBad {
			notes = joinNote(notes, "quarantined")
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", r.ID, r.Platform, r.Verdict, fw, ping, heapFree)
		if comprehensive {
			dec, p95 := "-", "-"
			if r.TokensPerSecond > 0 {
				dec, p95 = fmt.Sprintf("%.1f tok/s", r.TokensPerSecond), fmt.Sprintf("%.1f ms", r.P95MS)
			}
			line += "\t" + dec + "\t" + p95
		}
		fmt.Fprintln(tw, line+"\t"+dash(notes))
	}
	tw.Flush()
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
