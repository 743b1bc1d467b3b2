package lab_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/tinyprof/tinyprof/lab"
)

// Connect opens any board an inventory entry describes; here a simulated
// one, which it starts behind a pseudo-terminal and opens through the real
// serial client.
func ExampleConnect() {
	ctx := context.Background()
	e := lab.Entry{ID: "sim-a", Platform: "esp32s3", Sim: true}
	conn, err := lab.Connect(ctx, e, lab.ConnectOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	info := conn.Device.Info()
	fmt.Println(conn.Label(), e.Kind())
	fmt.Println(info.Platform, info.Firmware, "simulated:", conn.Sim != nil)
	// Output:
	// sim-a (simulated) simulated
	// esp32s3 tinyprof-sim/0.1.0 simulated: true
}

// ParseInventory reports every problem of an inventory at once, each as
// file:line, as compilers do.
func ExampleParseInventory() {
	_, err := lab.ParseInventory("lab.yaml", []byte(`boards:
  - id: bench-1
    platform: esp32
    state: broken
  - id: bench-2
    platform: esp32s3
    meter: {kind: ppk2, port: /dev/ttyACM1, logic-bit: 9}
`))
	fmt.Println(err)
	// Output:
	// lab.yaml:4: board "bench-1": unknown state "broken" (use good, maintenance or retired)
	// lab.yaml:7: board "bench-2": meter logic-bit 9: the PPK2 has inputs D0–D7
}

// A Lab leases boards to one holder at a time, health-checked, across
// every process that shares its lease directory.
func ExampleLab_Acquire() {
	dir, err := os.MkdirTemp("", "leases-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := lab.NewFlockStore(dir)
	if err != nil {
		log.Fatal(err)
	}
	l := &lab.Lab{Store: store, Boards: []lab.Entry{
		{ID: "sim-a", Platform: "esp32s3", Sim: true},
		{ID: "sim-b", Platform: "rp2040", Sim: true},
	}}
	ctx := context.Background()
	lease, err := l.Acquire(ctx, "example", lab.Request{Platform: "rp2040"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leased", lease.Entry.ID, "by", lease.Holder.Test)
	li, _ := store.Inspect(ctx, "sim-b")
	fmt.Println("held:", li.Held, "health:", li.Health.Status)
	if err := lease.Release(); err != nil {
		log.Fatal(err)
	}
	li, _ = store.Inspect(ctx, "sim-b")
	fmt.Println("held:", li.Held)
	// Output:
	// leased sim-b by example
	// held: true health: healthy
	// held: false
}
