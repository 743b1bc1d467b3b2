package sim_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
)

// ExampleStart runs a simulated board behind a pseudo-terminal and opens it
// with the real serial client. In a test, write
//
//	board := sim.Start(t, sim.Options{Platform: "stm32h7"})
//
// which closes the board when the test ends and fails the test if no
// pseudo-terminal can be had. An example has no testing.TB, so this one
// calls Listen, the form Start is built on, and closes the board itself.
func ExampleStart() {
	board, err := sim.Listen(sim.Options{Platform: "stm32h7"})
	if err != nil {
		log.Fatal(err)
	}
	defer board.Close()
	fmt.Println("a pty:", strings.HasPrefix(board.Path, "/dev/pts/"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := device.Open(ctx, board.Path, device.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	info := d.Info()
	fmt.Println("platform:", info.Platform)
	fmt.Println("firmware:", info.Firmware)
	fmt.Println("same boot:", info.BootID == board.BootID())
	// Output:
	// a pty: true
	// platform: stm32h7
	// firmware: tinyprof-sim/0.1.0
	// same boot: true
}

// ExamplePipe runs a simulated board on an in-memory line: no tty, for
// tests of the protocol client that do not need the serial stack. The host
// end is a device.Transport.
func ExamplePipe() {
	tr, board, err := sim.Pipe(sim.Options{Platform: "esp32p4"})
	if err != nil {
		log.Fatal(err)
	}
	defer board.Close()
	d := device.New(tr, device.Options{})
	defer d.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := d.Hello(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("platform:", info.Platform)
	fmt.Println("simulated:", info.Capabilities.Simulated())
	// Output:
	// platform: esp32p4
	// simulated: true
}

// ExampleFaults switches on one misbehaviour before the board starts: a
// board that boots but answers no request, as a hung agent would. The
// client gives up after its Timeout (and one resend) with a typed error.
func ExampleFaults() {
	tr, board, err := sim.Pipe(sim.Options{Faults: sim.Faults{Silent: true}})
	if err != nil {
		log.Fatal(err)
	}
	defer board.Close()
	d := device.New(tr, device.Options{Timeout: 50 * time.Millisecond})
	defer d.Close()

	_, err = d.Hello(context.Background())
	fmt.Println("timeout:", errors.Is(err, device.ErrTimeout))
	// Output:
	// timeout: true
}
