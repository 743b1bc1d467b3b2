// Command tiny-profiler profiles small language models on microcontrollers
// and edge boards, and carries out the incident runbook's commands.
//
// Every command that talks to a board takes --device PATH (a serial port)
// or --sim PLATFORM (a simulated board behind a pseudo-terminal, whose
// figures are modelled and labelled so). Run `tiny-profiler help` for the
// list. Errors go to stderr with a non-zero exit status.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// usageError marks a mistake in the command line (exit status 2).
type usageError struct{ error }

// run executes the CLI and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	start := time.Now()
	err := root.ExecuteContext(ctx)
	code := 0
	if err != nil {
		fmt.Fprintf(stderr, "tiny-profiler: %v\n", err)
		code = 1
		var ue usageError
		var ex exitError
		switch {
		case errors.As(err, &ue):
			code = 2
		case errors.As(err, &ex):
			code = int(ex)
		}
	}
	if jerr := journalCommand(root, args, start, code, err); jerr != nil {
		fmt.Fprintf(stderr, "tiny-profiler: warning: the command was not journalled: %v\n", jerr)
	}
	return code
}

// exitError carries a specific exit status for a result that is not a
// failure of the command itself (e.g. a board found unhealthy).
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "tiny-profiler",
		Short: "Profile and test small language models on microcontrollers and edge boards",
		Long: `tiny-profiler measures how a small language model runs on a board: whether it
fits, time to first token, tokens per second, heap and PSRAM. It talks to the
tinyprof agent in the board's firmware over a serial port, or to a simulated
board (--sim) whose figures are modelled and always labelled as simulated.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().String("state-dir", "", "state directory holding the journal and leases (env TINYPROF_STATE_DIR; default ~/.local/state/tinyprof)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see `tiny-profiler %s --help`)", err, c.Name())}
	})
	root.AddCommand(commands()...)
	return root
}
