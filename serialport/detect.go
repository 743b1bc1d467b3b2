package serialport

import (
	"fmt"
	"sort"
	"strings"

	"go.bug.st/serial/enumerator"
)

// Info describes a serial port found on this host.
type Info struct {
	Path         string   `json:"path"`
	USB          bool     `json:"usb"`
	VID          string   `json:"vid,omitempty"` // upper-case hex, e.g. "303A"
	PID          string   `json:"pid,omitempty"`
	SerialNumber string   `json:"serial_number,omitempty"` // the board's identity: paths move, this does not
	Manufacturer string   `json:"manufacturer,omitempty"`
	Product      string   `json:"product,omitempty"`
	Bridge       string   `json:"bridge,omitempty"`    // the USB chip or native interface, e.g. "CP210x"
	Platforms    []string `json:"platforms,omitempty"` // catalogue platforms this interface is found on
}

// usbID is a USB vendor and product pair; product "" matches any.
type usbID struct{ vid, pid string }

// knownUSB maps USB ids to the bridge and the platforms it suggests. VIDs
// from the usb.ids registry; Espressif 303A:1001 is the USB-Serial/JTAG of
// the ESP32-S3/C3/P4 (ESP-IDF docs, "USB Serial/JTAG Controller Console").
var knownUSB = []struct {
	id        usbID
	bridge    string
	platforms []string
}{
	{usbID{"303A", "1001"}, "Espressif USB-Serial/JTAG", []string{"esp32s3", "esp32p4"}},
	{usbID{"303A", ""}, "Espressif native USB", []string{"esp32s3", "esp32p4"}},
	{usbID{"10C4", "EA60"}, "CP210x", []string{"esp32", "esp32s3"}},
	{usbID{"1A86", "7523"}, "CH340", []string{"esp32", "esp32s3"}},
	{usbID{"1A86", "55D4"}, "CH9102", []string{"esp32", "esp32s3"}},
	{usbID{"0403", ""}, "FTDI", []string{"esp32", "stm32f4", "stm32f7", "stm32h7"}},
	{usbID{"0483", "374B"}, "ST-LINK/V2-1 VCP", []string{"stm32f4", "stm32f7", "stm32h7"}},
	{usbID{"0483", "374E"}, "STLINK-V3 VCP", []string{"stm32h7", "stm32f7"}},
	{usbID{"0483", "3752"}, "ST-LINK/V2-1 VCP", []string{"stm32f4", "stm32f7", "stm32h7"}},
	{usbID{"0483", "3753"}, "STLINK-V3 VCP", []string{"stm32h7", "stm32f7"}},
	{usbID{"2E8A", "0005"}, "RP2040 MicroPython CDC", []string{"rp2040"}},
	{usbID{"2E8A", "000A"}, "Raspberry Pi Pico SDK CDC", []string{"rp2040", "rp2350"}},
	{usbID{"2E8A", "0009"}, "Raspberry Pi Pico 2 CDC", []string{"rp2350"}},
	{usbID{"2E8A", "000C"}, "Raspberry Pi Debug Probe", []string{"rp2040", "rp2350"}},
	{usbID{"2E8A", ""}, "Raspberry Pi", []string{"rp2040", "rp2350", "rpi-zero-2w"}},
	{usbID{"1366", ""}, "SEGGER J-Link VCOM", []string{"nrf52840", "stm32f4", "stm32f7", "stm32h7"}},
	{usbID{"1915", ""}, "Nordic Semiconductor", []string{"nrf52840"}},
	{usbID{"0525", "A4A7"}, "Linux USB gadget serial", []string{"rpi-zero-2w"}},
	{usbID{"0955", ""}, "NVIDIA Jetson", []string{"jetson-orin-nano"}},
}

// Classify fills in Bridge and Platforms from p's USB ids.
func Classify(p *Info) {
	vid, pid := strings.ToUpper(p.VID), strings.ToUpper(p.PID)
	for _, k := range knownUSB {
		if k.id.vid == vid && (k.id.pid == "" || k.id.pid == pid) {
			p.Bridge, p.Platforms = k.bridge, append([]string(nil), k.platforms...)
			return
		}
	}
}

// Detect lists the serial ports on this host, with USB ids and the
// platforms each suggests. On Linux it reads sysfs only: unlike
// serial.GetPortsList it never opens a port, so it does not disturb a port
// another process is using (bugst/go-serial#210). Pseudo-terminals are not
// listed; address a simulated board by its path.
func Detect() ([]Info, error) {
	details, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return nil, fmt.Errorf("list serial ports: %w", err)
	}
	var ports []Info
	for _, d := range details {
		if d == nil || d.Name == "" {
			continue // a port whose sysfs device link is missing
		}
		p := Info{Path: d.Name, USB: d.IsUSB, VID: strings.ToUpper(d.VID), PID: strings.ToUpper(d.PID),
			SerialNumber: d.SerialNumber, Manufacturer: d.Manufacturer, Product: d.Product}
		if p.USB {
			Classify(&p)
		}
		ports = append(ports, p)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].Path < ports[j].Path })
	return ports, nil
}

// FindBySerial returns the port whose USB serial number is serial: after a
// flash or a replug /dev/ttyUSBn may change, the serial number does not.
func FindBySerial(serial string) (Info, error) {
	ports, err := Detect()
	if err != nil {
		return Info{}, err
	}
	for _, p := range ports {
		if p.SerialNumber == serial {
			return p, nil
		}
	}
	return Info{}, &Error{Op: "find", Port: serial, Kind: Missing,
		Err: fmt.Errorf("no port with USB serial number %q", serial), Hint: portsHint()}
}
