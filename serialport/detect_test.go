package serialport

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		vid, pid string
		bridge   string
		plats    []string
	}{
		{"303A", "1001", "Espressif USB-Serial/JTAG", []string{"esp32s3", "esp32p4"}},
		{"303a", "1001", "Espressif USB-Serial/JTAG", []string{"esp32s3", "esp32p4"}}, // case does not matter
		{"303A", "4001", "Espressif native USB", []string{"esp32s3", "esp32p4"}},
		{"10C4", "EA60", "CP210x", []string{"esp32", "esp32s3"}},
		{"1A86", "55D4", "CH9102", []string{"esp32", "esp32s3"}},
		{"0483", "374B", "ST-LINK/V2-1 VCP", []string{"stm32f4", "stm32f7", "stm32h7"}},
		{"2E8A", "000A", "Raspberry Pi Pico SDK CDC", []string{"rp2040", "rp2350"}},
		{"1366", "1015", "SEGGER J-Link VCOM", []string{"nrf52840", "stm32f4", "stm32f7", "stm32h7"}},
		{"1915", "C00A", "Nordic Semiconductor", []string{"nrf52840"}},
		{"DEAD", "BEEF", "", nil},
	}
	for _, tt := range tests {
		p := Info{VID: tt.vid, PID: tt.pid, USB: true}
		Classify(&p)
		if p.Bridge != tt.bridge {
			t.Errorf("%s:%s bridge = %q, want %q", tt.vid, tt.pid, p.Bridge, tt.bridge)
		}
		if diff := cmp.Diff(tt.plats, p.Platforms); diff != "" {
			t.Errorf("%s:%s platforms (-want +got):\n%s", tt.vid, tt.pid, diff)
		}
	}
}

// TestDetectNeverFails on a machine with no USB serial ports (CI): an empty
// list, not an error.
func TestDetectNeverFails(t *testing.T) {
	if _, err := Detect(); err != nil {
		t.Fatal(err)
	}
}
