package platform_test

import (
	"fmt"

	"github.com/tinyprof/tinyprof/platform"
)

func ExamplePlatform_FirmwareReserve() {
	p, _ := platform.Lookup("stm32f4")
	for _, r := range p.FirmwareReserve() {
		kind := "sourced"
		if r.Estimate {
			kind = "estimate"
		}
		fmt.Printf("%-5s %6d B  %-8s %s\n", r.Region, r.Bytes, kind, r.What)
	}
	fmt.Println("flash kept:", p.Reserved(platform.Flash), "B")
	// Output:
	// flash  13221 B  sourced  tinyprof runtime and agent code
	// flash  16384 B  estimate vector table, startup code, HAL and UART driver
	// sram    8192 B  estimate main stack, C library and HAL state
	// sram    3120 B  sourced  tinyprof runtime and agent state and protocol buffers
	// flash   3163 B  sourced  the rest of the firmware's last erase sector, so the model starts on a sector of its own
	// flash kept: 32768 B
}
