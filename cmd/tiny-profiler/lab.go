package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/lab/etcdstore"
)

func newLeases() *cobra.Command {
	var dir string
	var asJSON bool
	var labf labFlags
	c := &cobra.Command{
		Use:   "leases",
		Short: "List board leases held by tests and tools, and each board's health",
		Long: `leases lists the lock files in the lease directory: who holds each board (pid,
host, test, since), which holds are stale (the holder died; the next lease
takes the board), and boards quarantined by a failed health check. With --lab
it lists a lab of many machines in etcd instead: its leases and health, and
every board its exporters publish, with the host and port it is plugged into.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			es, err := labf.open(c.Context())
			if err != nil {
				return err
			}
			var list []lab.LeaseInfo
			var at map[string]string
			where := dir
			if es != nil {
				defer es.Close()
				where = labf.url
				if list, at, err = labLeases(c, es); err != nil {
					return err
				}
			} else {
				if dir == "" {
					state, err := stateDir(c)
					if err != nil {
						return err
					}
					dir = filepath.Join(state, "leases")
				}
				where = dir
				if list, err = lab.ListLeases(dir); err != nil {
					return err
				}
			}
			if asJSON {
				if list == nil {
					list = []lab.LeaseInfo{}
				}
				return writeJSON(c.OutOrStdout(), list)
			}
			if len(list) == 0 {
				fmt.Fprintf(c.OutOrStdout(), "no leases in %s\n", where)
				return nil
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 0, 2, ' ', 0)
			head := "BOARD\tLEASE\tHOLDER\tHEALTH"
			if at != nil {
				head += "\tAT"
			}
			fmt.Fprintln(tw, head)
			for _, l := range list {
				state, holder := "free", "-"
				switch {
				case l.Held:
					state = "held"
				case l.Holder != nil:
					state = "stale"
				}
				if l.Holder != nil {
					holder = quotedHolder(*l.Holder)
				}
				health := string(l.Health.Status)
				if health == "" {
					health = "unchecked"
				}
				if l.Health.Reason != "" {
					health += ": " + printable(l.Health.Reason)
				}
				if l.Problem != "" {
					state, health = "unusable", printable(l.Problem)
				}
				line := fmt.Sprintf("%s\t%s\t%s\t%s", printable(l.ID), state, holder, health)
				if at != nil {
					where := at[l.ID]
					if where == "" {
						where = "not published"
					}
					line += "\t" + printable(where)
				}
				fmt.Fprintln(tw, line)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "lease directory (default: the state directory's leases/)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	labf.register(c)
	return c
}

// labLeases lists a lab in etcd: every board with a lease or health
// record, and every board an exporter publishes, with where it is
// published (host, device and address) by id.
func labLeases(c *cobra.Command, es *etcdstore.Store) ([]lab.LeaseInfo, map[string]string, error) {
	list, err := es.List(c.Context())
	if err != nil {
		return nil, nil, err
	}
	pubs, err := es.Boards(c.Context())
	if err != nil {
		if pubs == nil {
			return nil, nil, err
		}
		fmt.Fprintf(c.ErrOrStderr(), "warning: %v\n", err)
	}
	at := map[string]string{}
	seen := map[string]bool{}
	for _, li := range list {
		seen[li.ID] = true
	}
	for _, p := range pubs {
		at[p.ID] = fmt.Sprintf("%s %s (%s)", p.Host, p.Device, p.Address)
		if !seen[p.ID] {
			list = append(list, lab.LeaseInfo{ID: p.ID})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return list, at, nil
}

// quotedHolder renders a holder record for a terminal. Whoever can write
// to the lease directory writes these, so the test name and host are
// quoted: a terminal escape in them is shown, never obeyed.
func quotedHolder(h lab.Holder) string {
	s := fmt.Sprintf("pid %d on %q", h.PID, h.Host)
	if h.Test != "" {
		s += fmt.Sprintf(" (%q)", h.Test)
	}
	if !h.Since.IsZero() {
		s += fmt.Sprintf(" for %v", time.Since(h.Since).Round(time.Millisecond))
	}
	return s
}

// printable returns s as it is if every rune of it is printable, else
// quoted (strconv.Quote), so that a record read from the lease directory
// cannot drive the terminal.
func printable(s string) string {
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func newInventory() *cobra.Command {
	c := &cobra.Command{
		Use:   "inventory",
		Short: "Work with the lab's board inventory",
	}
	var asJSON bool
	check := &cobra.Command{
		Use:   "check [FILE]",
		Short: "Validate an inventory file (default: $TINYPROF_INVENTORY, else the config directory's)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var path string
			if len(args) == 1 {
				path = args[0]
			}
			path, err := lab.InventoryPath(path)
			if err != nil {
				return err
			}
			inv, err := lab.LoadInventory(path)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(c.OutOrStdout(), inv)
			}
			sims := 0
			for _, b := range inv.Boards {
				if b.Sim {
					sims++
				}
			}
			fmt.Fprintf(c.OutOrStdout(), "%s: ok, %s (%d simulated)\n", path, countOf(len(inv.Boards), "board", "boards"), sims)
			return nil
		},
	}
	check.Flags().BoolVar(&asJSON, "json", false, "print the parsed inventory as JSON")
	c.AddCommand(check)
	return c
}

// writeInventoryDraft writes a draft inventory for the detected ports,
// refusing to overwrite an existing file unless force is set.
func writeInventoryDraft(path string, force bool, draft []byte) error {
	if _, err := os.Stat(path); err == nil && !force {
		return usageError{fmt.Errorf("%s exists; pass --force to overwrite it", path)}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	header := fmt.Sprintf("# tinyprof inventory drafted by `tiny-profiler detect-devices` on %s.\n"+
		"# Check each platform, then validate with `tiny-profiler inventory check %s`.\n",
		time.Now().UTC().Format(time.RFC3339), path)
	return writeFileAtomic(path, func(w io.Writer) error {
		if _, err := w.Write([]byte(header)); err != nil {
			return err
		}
		_, err := w.Write(draft)
		return err
	})
}
