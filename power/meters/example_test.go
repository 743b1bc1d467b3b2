package meters_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tinyprof/tinyprof/power"
	"github.com/tinyprof/tinyprof/power/meters"
)

// Example lists the registry, then opens a simulated PPK2 measuring a
// board that draws a constant 12 mA, through the real PPK2 driver.
func Example() {
	for _, k := range meters.Kinds() {
		fmt.Printf("%s: %s, %g–%gV\n", k.Name, k.Title, float64(k.MinSupply), float64(k.MaxSupply))
	}
	ctx := context.Background()
	m, closeFn, err := meters.OpenSimulated(ctx, "ppk2", power.Constant(12e-3), meters.Options{}, meters.SimOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer closeFn()
	if err := m.Start(ctx); err != nil {
		log.Fatal(err)
	}
	buf := make([]power.Sample, 16)
	n, err := m.Read(ctx, buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (simulated: %v): %.1f mA\n", m.Info().Kind, m.Info().Simulated, float64(buf[n-1].Current)*1e3)
	// Output:
	// ppk2: Nordic Power Profiler Kit II, 0.8–5V
	// lpm01a: ST X-NUCLEO-LPM01A (PowerShield), 1.8–3.3V
	// ppk2 (simulated: true): 12.0 mA
}
