package emu_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/emu"
)

// ExampleListen starts an emulated Cortex-M4F, talks to its firmware
// through the real serial client, and labels what it reports. (Not run as
// a test: it needs qemu-system-arm and arm-none-eabi-gcc.)
func ExampleListen() {
	ctx := context.Background()
	b, err := emu.Listen(ctx, emu.Options{Machine: "mps2-an386"})
	if err != nil {
		log.Fatal(err) // errors.Is(err, emu.ErrToolMissing): install the Debian packages it names
	}
	defer b.Close()
	port, err := b.Open(ctx) // a device.Transport whose HardReset is a machine reset
	if err != nil {
		log.Fatal(err)
	}
	d := device.New(port, device.Options{})
	defer d.Close()
	info, err := d.Hello(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s on %s (%s)\n", info.Firmware, b.Path, b.Label())
}
