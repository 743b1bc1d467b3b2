package rfc2217_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/serialport"
	"github.com/tinyprof/tinyprof/serialport/rfc2217"
)

// ExampleDial opens a board's port served by ser2net on a lab host, with
// a configuration such as
//
//	connection: &board1
//	  accepter: telnet(rfc2217),tcp,3333
//	  connector: serialdev,/dev/ttyUSB0,115200n81,local
//	  options:
//	    chardelay: false
//
// resets it through DTR/RTS and talks to it. It needs that server, so it
// is compiled but not run; the package's tests run the same steps against
// a real ser2net in front of a simulated board.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := rfc2217.Dial(ctx, "labhost:3333", rfc2217.Options{Baud: 115200})
	if err != nil {
		log.Fatal(err) // e.g. "rfc2217 labhost:3333: negotiate: protocol error: ... (hint)"
	}
	defer conn.Close()
	if err := conn.HardReset(ctx); err != nil {
		log.Fatal(err)
	}
	d := device.New(conn, device.Options{})
	defer d.Close()
	info, err := d.Hello(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Name(), info.Platform)
}

// ExampleDial_openURL opens a local path or an rfc2217:// address alike,
// as device.Open does with what the user typed.
func ExampleDial_openURL() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	line, err := serialport.OpenURL(ctx, "rfc2217://labhost:3333", 115200)
	if err != nil {
		log.Fatal(err) // a *serialport.Error, as for a local port
	}
	d := device.New(line, device.Options{})
	defer d.Close()
	if _, err := d.Hello(ctx); err != nil {
		log.Fatal(err)
	}
}
