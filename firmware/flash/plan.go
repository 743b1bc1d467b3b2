package flash

import (
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/tinyprof/tinyprof/platform"
)

// Flash offsets. ESP: the second-stage bootloader sits at 0x1000 on the
// ESP32, 0x0 on the ESP32-S3 and 0x2000 on the ESP32-P4; ESP-IDF's default
// partition table puts the factory app at 0x10000 (esptool docs, "Firmware
// Image Format", IDF_TARGET_BOOTLOADER_OFFSET). STM32 flash is mapped at
// 0x08000000 (RM0090 §3.3); RP2040/RP2350 XIP flash at 0x10000000
// (picotool load's default offset for a BIN).
const (
	espAppOffset   = 0x10000
	stm32FlashBase = 0x08000000
	rpFlashBase    = 0x10000000
)

var espBootloaderOffset = map[string]int64{"esp32": 0x1000, "esp32s2": 0x1000, "esp32s3": 0x0, "esp32c3": 0x0, "esp32p4": 0x2000}

// Tool is a flasher a platform family can use.
type Tool struct {
	// Names are the executable names looked up on PATH, in order.
	Names []string
	// Install says how to get it.
	Install string
}

// family groups platforms that share flashers.
type family struct {
	name  string
	tools []Tool
}

var (
	espTools = []Tool{{Names: []string{"esptool", "esptool.py"}, Install: "pip install esptool (https://docs.espressif.com/projects/esptool/), or Debian's esptool package"}}
	stmTools = []Tool{
		{Names: []string{"st-flash"}, Install: "apt install stlink-tools (https://github.com/stlink-org/stlink)"},
		{Names: []string{"STM32_Programmer_CLI"}, Install: "STM32CubeProgrammer from st.com, with its bin/ directory on PATH"},
	}
	rpTools  = []Tool{{Names: []string{"picotool"}, Install: "apt install picotool, or build it from https://github.com/raspberrypi/picotool"}}
	nrfTools = []Tool{
		{Names: []string{"nrfjprog"}, Install: "nRF Command Line Tools from nordicsemi.com (with SEGGER J-Link)"},
		{Names: []string{"nrfutil"}, Install: "nrfutil from nordicsemi.com, then `nrfutil install device`"},
	}
)

func familyOf(p string) (family, error) {
	switch {
	case strings.HasPrefix(p, "esp32"):
		return family{"esp", espTools}, nil
	case strings.HasPrefix(p, "stm32"):
		return family{"stm32", stmTools}, nil
	case p == "rp2040" || p == "rp2350":
		return family{"rp", rpTools}, nil
	case strings.HasPrefix(p, "nrf52"):
		return family{"nrf", nrfTools}, nil
	}
	return family{}, fmt.Errorf("%w: %s boots from an SD card or eMMC: write its OS image with its vendor's tool (rpi-imager, NVIDIA SDK Manager); `tiny-profiler flash` programs microcontrollers", ErrUnsupported, p)
}

// The conditions NewPlan and Run report; match them with errors.Is.
var (
	// ErrMismatch: the image is not for this platform.
	ErrMismatch = errors.New("firmware image does not match the board")
	// ErrToolMissing: no flasher for the platform is on PATH.
	ErrToolMissing = errors.New("flasher not found")
	// ErrUnsupported: the platform is not flashed by this package.
	ErrUnsupported = errors.New("flashing not supported")
	// ErrTimeout: the flasher did not finish in time and was killed.
	ErrTimeout = errors.New("flasher timed out")
	// ErrFlasher: the flasher ran and failed.
	ErrFlasher = errors.New("flasher failed")
)

func mismatch(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMismatch, fmt.Sprintf(format, args...))
}

// Check reports whether img can be written to a board of platform p, and
// if not, why and what to do instead.
func (img *Image) Check(p platform.Platform) error {
	fam, err := familyOf(p.Name)
	if err != nil {
		return err
	}
	what := img.Describe()
	switch img.Format {
	case FormatESP:
		if fam.name != "esp" {
			return mismatch("%s is an %s, but the board is %s", img.Path, what, p.Name)
		}
		if img.ESPChip != p.Name {
			return mismatch("%s is an %s, but the board is %s: build for the right target (idf.py set-target %s)", img.Path, what, p.Name, p.Name)
		}
	case FormatELF:
		switch fam.name {
		case "esp":
			return mismatch("%s is an ELF file: esptool writes images, convert it with `esptool --chip %s elf2image %s` and flash the .bin", img.Path, p.Name, img.Path)
		case "stm32", "nrf":
			if img.ELFMachine != "ARM" {
				return mismatch("%s is an %s, but a %s runs Arm code", img.Path, what, p.Name)
			}
			if fam.name == "stm32" {
				return mismatch("%s is an ELF file: convert it with `arm-none-eabi-objcopy -O binary %s fw.bin` (or -O ihex)", img.Path, img.Path)
			}
			return mismatch("%s is an ELF file: nrfjprog writes Intel HEX; convert it with `arm-none-eabi-objcopy -O ihex %s fw.hex`", img.Path, img.Path)
		case "rp":
			if img.ELFMachine != "ARM" && !(p.Name == "rp2350" && img.ELFMachine == "RISC-V") {
				return mismatch("%s is an %s, which a %s cannot run", img.Path, what, p.Name)
			}
		}
	case FormatUF2:
		if fam.name != "rp" {
			return mismatch("%s is a UF2 file (%s): %s's flasher writes binaries or HEX; UF2 is for drag-and-drop bootloaders", img.Path, what, p.Name)
		}
		for _, f := range img.UF2Families {
			ok := f == UF2Absolute || f == UF2Data
			switch p.Name {
			case "rp2040":
				ok = ok || f == UF2RP2040
			case "rp2350":
				ok = ok || f == UF2RP2350ArmS || f == UF2RP2350ArmNS || f == UF2RP2350RiscV
			}
			if !ok {
				return mismatch("%s is a UF2 for family %s, but the board is %s", img.Path, UF2FamilyName(f), p.Name)
			}
		}
	case FormatIHex:
		switch fam.name {
		case "esp", "rp":
			return mismatch("%s is Intel HEX, which %s does not write: flash the .bin (or .uf2) the build produced", img.Path, fam.tools[0].Names[0])
		case "stm32":
			if img.HexStart < stm32FlashBase || img.HexStart >= stm32FlashBase+uint32(p.Flash) {
				return mismatch("%s writes from 0x%08x, outside the %s's flash at 0x%08x: is it for another chip?", img.Path, img.HexStart, p.Name, stm32FlashBase)
			}
		case "nrf":
			if img.HexEnd > uint32(p.Flash) && img.HexStart < 0x10000000 {
				return mismatch("%s writes up to 0x%08x, past the %s's %d KiB of flash", img.Path, img.HexEnd, p.Name, p.Flash>>10)
			}
		}
	case FormatRaw:
		if fam.name == "nrf" {
			return mismatch("%s is a raw binary: nrfjprog writes Intel HEX; convert it with `arm-none-eabi-objcopy -I binary -O ihex %s fw.hex`", img.Path, img.Path)
		}
	}
	if p.Flash > 0 && img.Format != FormatIHex && img.Format != FormatUF2 && img.Size > p.Flash {
		return mismatch("%s is %d KiB, larger than the %s's %d KiB of flash", img.Path, img.Size>>10, p.Name, p.Flash>>10)
	}
	return nil
}

// Options says where and how to flash.
type Options struct {
	// Port is the serial port (esptool talks to the ROM bootloader through
	// it). Required for the ESP32 family.
	Port string
	// Serial is the board's USB serial number, or the probe's for
	// SWD flashers; it selects the board when several are attached.
	Serial string
	// Offset is where a raw binary is written. Default -1: the platform's
	// application offset (ESP 0x10000, or the bootloader offset for a
	// bootloader or merged image; STM32 0x08000000; RP 0x10000000).
	Offset int64
	// Verify reads the flash back after writing (an extra pass where the
	// flasher does not always verify).
	Verify bool
	// Baud is esptool's line rate. Default 460800.
	Baud int
	// Tool forces a flasher by executable name, e.g. "STM32_Programmer_CLI".
	Tool string
	// LookPath finds executables. Default exec.LookPath.
	LookPath func(string) (string, error)
}

// Step is one flasher invocation.
type Step struct {
	// Phase names what the step does: "write", "verify", "reset".
	Phase string
	// Path is the executable found on PATH; Args exclude it.
	Path string
	Args []string
}

// Plan is the flasher commands for one image and board.
type Plan struct {
	Platform string
	Image    *Image
	// Tool is the flasher's name, e.g. "esptool".
	Tool   string
	Offset int64 // where the image goes, -1 when the image says (UF2, HEX, ELF)
	Steps  []Step
}

// String returns the commands, one a line, quoted for a POSIX shell.
func (p *Plan) String() string {
	var b strings.Builder
	for _, s := range p.Steps {
		b.WriteString(shellQuote(s.Path))
		for _, a := range s.Args {
			b.WriteString(" " + shellQuote(a))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// MissingToolError says which flashers were looked for and how to install one.
type MissingToolError struct {
	Platform string
	Tools    []Tool
}

func (e *MissingToolError) Error() string {
	var names, hints []string
	for _, t := range e.Tools {
		names = append(names, strings.Join(t.Names, " or "))
		hints = append(hints, t.Names[0]+": "+t.Install)
	}
	return fmt.Sprintf("no flasher for %s on PATH (looked for %s); install one — %s", e.Platform, strings.Join(names, ", then "), strings.Join(hints, "; "))
}

func (e *MissingToolError) Is(target error) bool { return target == ErrToolMissing }

// NewPlan checks img against the platform p and builds the commands that
// write it, with the first flasher for p found on PATH.
func NewPlan(img *Image, p platform.Platform, opts Options) (*Plan, error) {
	if err := img.Check(p); err != nil {
		return nil, err
	}
	fam, _ := familyOf(p.Name)
	look := opts.LookPath
	if look == nil {
		look = exec.LookPath
	}
	name, path := "", ""
	for _, t := range fam.tools {
		for _, n := range t.Names {
			if opts.Tool != "" && n != opts.Tool {
				continue
			}
			if found, err := look(n); err == nil {
				name, path = n, found
				break
			}
		}
		if path != "" {
			break
		}
	}
	if path == "" {
		tools := fam.tools
		if opts.Tool != "" {
			tools = []Tool{{Names: []string{opts.Tool}, Install: "check the name; known flashers: " + knownNames(fam.tools)}}
		}
		return nil, &MissingToolError{Platform: p.Name, Tools: tools}
	}
	plan := &Plan{Platform: p.Name, Image: img, Tool: strings.TrimSuffix(name, ".py"), Offset: -1}
	off := opts.Offset
	switch name {
	case "esptool", "esptool.py":
		if opts.Port == "" {
			return nil, errors.New("esptool needs the board's serial port: pass --device")
		}
		if off < 0 && img.Format == FormatRaw {
			return nil, fmt.Errorf("%w: %s has no ESP image header, so it is not an application or bootloader: pass --offset to write it as data, or flash the image the build produced", ErrMismatch, img.Path)
		}
		if off < 0 {
			off = espAppOffset
			if img.Format == FormatESP && !img.ESPApp {
				off = espBootloaderOffset[p.Name] // a bootloader or a merged image
			}
		}
		plan.Offset = off
		baud := opts.Baud
		if baud <= 0 {
			baud = 460800
		}
		// esptool v5 spells commands with hyphens; v4 (esptool.py) with
		// underscores (esptool docs, "Basic Commands").
		write, verify := "write-flash", "verify-flash"
		if name == "esptool.py" {
			write, verify = "write_flash", "verify_flash"
		}
		common := []string{"--chip", p.Name, "--port", opts.Port, "--baud", strconv.Itoa(baud)}
		plan.Steps = append(plan.Steps, Step{Phase: "write", Path: path, Args: append(append([]string{}, common...), write, hexAddr(off), img.Path)})
		if opts.Verify {
			plan.Steps = append(plan.Steps, Step{Phase: "verify", Path: path, Args: append(append([]string{}, common...), verify, hexAddr(off), img.Path)})
		}
	case "st-flash":
		args := []string{}
		if opts.Serial != "" {
			args = append(args, "--serial", opts.Serial)
		}
		// st-flash verifies after every write ("Starting verification of
		// write complete"); --verify adds nothing it does not do.
		if img.Format == FormatIHex {
			args = append(args, "--format", "ihex", "--reset", "write", img.Path)
		} else {
			if off < 0 {
				off = stm32FlashBase
			}
			plan.Offset = off
			args = append(args, "--reset", "write", img.Path, hexAddr(off))
		}
		plan.Steps = append(plan.Steps, Step{Phase: "write", Path: path, Args: args})
	case "STM32_Programmer_CLI":
		conn := "port=SWD"
		if opts.Serial != "" {
			conn += " sn=" + opts.Serial
		}
		args := []string{"-c", conn, "-w", img.Path}
		if img.Format != FormatIHex {
			if off < 0 {
				off = stm32FlashBase
			}
			plan.Offset = off
			args = append(args, hexAddr(off))
		}
		if opts.Verify {
			args = append(args, "-v")
		}
		plan.Steps = append(plan.Steps, Step{Phase: "write", Path: path, Args: append(args, "-rst")})
	case "picotool":
		args := []string{"load"}
		if opts.Verify {
			args = append(args, "-v")
		}
		args = append(args, "-x", img.Path)
		if img.Format == FormatRaw {
			if off < 0 {
				off = rpFlashBase
			}
			plan.Offset = off
			args = append(args, "-t", "bin", "-o", hexAddr(off))
		}
		if opts.Serial != "" {
			args = append(args, "--ser", opts.Serial)
		}
		plan.Steps = append(plan.Steps, Step{Phase: "write", Path: path, Args: append(args, "-f")})
	case "nrfjprog":
		args := []string{"-f", "NRF52"}
		if opts.Serial != "" {
			args = append(args, "--snr", opts.Serial)
		}
		args = append(args, "--program", img.Path, "--sectorerase")
		if opts.Verify {
			args = append(args, "--verify")
		}
		plan.Steps = append(plan.Steps, Step{Phase: "write", Path: path, Args: append(args, "--reset")})
	case "nrfutil":
		sel := []string{}
		if opts.Serial != "" {
			sel = []string{"--serial-number", opts.Serial}
		}
		o := "chip_erase_mode=ERASE_RANGES_TOUCHED_BY_FIRMWARE"
		if opts.Verify {
			o += ",verify=VERIFY_READ"
		}
		plan.Steps = append(plan.Steps,
			Step{Phase: "write", Path: path, Args: append(append([]string{"device", "program", "--firmware", img.Path}, sel...), "--options", o)},
			Step{Phase: "reset", Path: path, Args: append([]string{"device", "reset"}, sel...)})
	}
	return plan, nil
}

func knownNames(tools []Tool) string {
	var n []string
	for _, t := range tools {
		n = append(n, t.Names...)
	}
	return strings.Join(n, ", ")
}

func hexAddr(v int64) string { return fmt.Sprintf("0x%x", v) }
