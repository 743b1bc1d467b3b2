// Package flash writes firmware to boards with each vendor's flasher —
// esptool for the ESP32 family, st-flash or STM32_Programmer_CLI for
// STM32, picotool for RP2040/RP2350, nrfjprog or nrfutil for nRF52 — after
// checking from the image's own bytes that it is meant for the board.
//
// Inspect recognises ESP application and bootloader images (magic 0xE9 and
// the chip id of the extended header), ELF files, UF2 files (with their
// family ids), Intel HEX and raw binaries. NewPlan turns an image and a
// board into the exact flasher commands, and Run runs them with a time
// limit, reporting progress parsed from the flasher's output.
package flash

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Format is an image file format.
type Format string

// The formats Inspect recognises.
const (
	FormatESP  Format = "esp-image" // Espressif firmware image (esptool elf2image output)
	FormatELF  Format = "elf"
	FormatUF2  Format = "uf2"
	FormatIHex Format = "intel-hex"
	FormatRaw  Format = "raw" // anything else: a raw binary
)

// MaxImageSize bounds the images Inspect reads: larger than any flash in
// the catalogue.
const MaxImageSize = 64 << 20

// Image is what Inspect learned about a firmware file from its bytes.
type Image struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Format Format `json:"format"`

	// ESPChip is the chip an ESP image is built for ("esp32s3"), from the
	// extended header's chip id (ESPChipID); ESPApp reports an application
	// image (it carries an esp_app_desc_t) rather than a bootloader;
	// ESPMerged an image that holds bootloader, partition table and app
	// (esptool merge-bin) and so starts at the bootloader offset.
	ESPChip   string `json:"esp_chip,omitempty"`
	ESPChipID uint16 `json:"esp_chip_id,omitempty"`
	ESPApp    bool   `json:"esp_app,omitempty"`
	ESPMerged bool   `json:"esp_merged,omitempty"`

	// ELFMachine is the ELF e_machine, named: "ARM", "Xtensa", "RISC-V".
	ELFMachine string `json:"elf_machine,omitempty"`

	// UF2Families are the family ids of a UF2 file's blocks, in order of
	// first appearance; UF2Blocks counts its blocks.
	UF2Families []uint32 `json:"uf2_families,omitempty"`
	UF2Blocks   int      `json:"uf2_blocks,omitempty"`

	// HexStart and HexEnd bound the addresses an Intel HEX file writes.
	HexStart uint32 `json:"hex_start,omitempty"`
	HexEnd   uint32 `json:"hex_end,omitempty"`
}

// ESP chip ids of the image extended header (ESP-IDF
// components/bootloader_support/include/esp_app_format.h, esp_chip_id_t;
// esptool docs, "Firmware Image Format").
var espChips = map[uint16]string{
	0x0000: "esp32", 0x0002: "esp32s2", 0x0005: "esp32c3", 0x0009: "esp32s3",
	0x000C: "esp32c2", 0x000D: "esp32c6", 0x0010: "esp32h2", 0x0012: "esp32p4",
	0x0014: "esp32c61", 0x0017: "esp32c5",
}

// UF2 family ids (microsoft/uf2 utils/uf2families.json).
const (
	UF2RP2040       uint32 = 0xe48bff56
	UF2Absolute     uint32 = 0xe48bff57 // RP2350 bootrom: no particular chip
	UF2Data         uint32 = 0xe48bff58
	UF2RP2350ArmS   uint32 = 0xe48bff59
	UF2RP2350RiscV  uint32 = 0xe48bff5a
	UF2RP2350ArmNS  uint32 = 0xe48bff5b
	UF2ESP32        uint32 = 0x1c5f21b0
	UF2ESP32S3      uint32 = 0xc47e5767
	UF2ESP32P4      uint32 = 0x3d308e94
	UF2STM32F4      uint32 = 0x57755a57
	UF2STM32F7      uint32 = 0x53b80f00
	UF2STM32H7      uint32 = 0x6db66082
	UF2NRF52840     uint32 = 0xada52840
	UF2NRF52        uint32 = 0x1b57745f
	uf2Magic0       uint32 = 0x0A324655 // "UF2\n"
	uf2Magic1       uint32 = 0x9E5D5157
	uf2MagicEnd     uint32 = 0x0AB16F30
	uf2FlagFamilyID uint32 = 0x00002000
	uf2FlagNotMain  uint32 = 0x00000001
)

var uf2Names = map[uint32]string{
	UF2RP2040: "RP2040", UF2Absolute: "absolute", UF2Data: "data", UF2RP2350ArmS: "RP2350 Arm secure",
	UF2RP2350RiscV: "RP2350 RISC-V", UF2RP2350ArmNS: "RP2350 Arm non-secure", UF2ESP32: "ESP32",
	UF2ESP32S3: "ESP32-S3", UF2ESP32P4: "ESP32-P4", UF2STM32F4: "STM32F4", UF2STM32F7: "STM32F7",
	UF2STM32H7: "STM32H7", UF2NRF52840: "nRF52840", UF2NRF52: "nRF52",
}

// UF2FamilyName names a UF2 family id, or formats it in hex.
func UF2FamilyName(id uint32) string {
	if n, ok := uf2Names[id]; ok {
		return fmt.Sprintf("%s (0x%08x)", n, id)
	}
	return fmt.Sprintf("0x%08x", id)
}

// ErrBadImage matches, with errors.Is, every error Inspect returns for a
// file that claims a format and breaks it.
var ErrBadImage = errors.New("bad firmware image")

func badImage(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrBadImage, path, fmt.Sprintf(format, args...))
}

// InspectFile reads the firmware file at path and says what it is.
func InspectFile(path string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("firmware %s does not exist: pass the built image (.bin, .elf, .uf2 or .hex) to --firmware", path)
		}
		return nil, fmt.Errorf("firmware: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("firmware: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("firmware %s is not a regular file", path)
	}
	return Inspect(path, f, st.Size())
}

// Inspect reads size bytes of an image from r; name is used in errors. It
// reads the file once, holding at most a few kilobytes.
func Inspect(name string, r io.ReaderAt, size int64) (*Image, error) {
	if size == 0 {
		return nil, badImage(name, "the file is empty: was the build interrupted?")
	}
	if size > MaxImageSize {
		return nil, badImage(name, "%d bytes is larger than any board's flash (limit %d MiB): is this the right file?", size, MaxImageSize>>20)
	}
	img := &Image{Path: name, Size: size, Format: FormatRaw}
	head := make([]byte, min(size, 4096))
	if _, err := r.ReadAt(head, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("firmware %s: %w", name, err)
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, io.NewSectionReader(r, 0, size)); err != nil {
		return nil, fmt.Errorf("firmware %s: %w", name, err)
	}
	img.SHA256 = hex.EncodeToString(sum.Sum(nil))

	var err error
	switch {
	case len(head) >= 8 && binary.LittleEndian.Uint32(head) == uf2Magic0 && binary.LittleEndian.Uint32(head[4:]) == uf2Magic1:
		img.Format = FormatUF2
		err = inspectUF2(name, r, size, img)
	case len(head) >= 4 && bytes.Equal(head[:4], []byte("\x7fELF")):
		img.Format = FormatELF
		err = inspectELF(name, head, img)
	case head[0] == ':' && looksHex(head):
		img.Format = FormatIHex
		err = inspectHex(name, io.NewSectionReader(r, 0, size), img)
	case head[0] == 0xE9 && len(head) >= 24:
		img.Format = FormatESP
		err = inspectESP(name, r, size, head, img)
	}
	if err != nil {
		return nil, err
	}
	return img, nil
}

func inspectESP(name string, r io.ReaderAt, size int64, head []byte, img *Image) error {
	segments := head[1]
	if segments == 0 || segments > 16 {
		return badImage(name, "ESP image header says %d segments (expected 1 to 16): the file is damaged or not an ESP image", segments)
	}
	img.ESPChipID = binary.LittleEndian.Uint16(head[12:14])
	chip, ok := espChips[img.ESPChipID]
	if !ok {
		return badImage(name, "ESP image for unknown chip id 0x%04x", img.ESPChipID)
	}
	img.ESPChip = chip
	// An application's first segment starts with esp_app_desc_t, whose
	// magic word is 0xABCD5432 (esp_app_format.h): a bootloader has none.
	if len(head) >= 36 && binary.LittleEndian.Uint32(head[32:36]) == 0xABCD5432 {
		img.ESPApp = true
		return nil
	}
	// esptool merge-bin output starts with the bootloader and holds the
	// application 0x10000 - bootloader offset further on.
	if boot, ok := espBootloaderOffset[chip]; ok {
		at := int64(espAppOffset - boot)
		var b [1]byte
		if size > at+36 {
			if _, err := r.ReadAt(b[:], at); err == nil && b[0] == 0xE9 {
				img.ESPMerged = true
			}
		}
	}
	return nil
}

// ELF e_machine values (System V ABI; EM_XTENSA 94, EM_RISCV 243).
var elfMachines = map[uint16]string{40: "ARM", 94: "Xtensa", 243: "RISC-V", 62: "x86-64", 183: "AArch64", 3: "x86"}

func inspectELF(name string, head []byte, img *Image) error {
	if len(head) < 20 {
		return badImage(name, "ELF header is cut short")
	}
	var m uint16
	switch head[5] {
	case 1:
		m = binary.LittleEndian.Uint16(head[18:20])
	case 2:
		m = binary.BigEndian.Uint16(head[18:20])
	default:
		return badImage(name, "ELF header has an unknown byte order %d", head[5])
	}
	if n, ok := elfMachines[m]; ok {
		img.ELFMachine = n
	} else {
		img.ELFMachine = fmt.Sprintf("machine %d", m)
	}
	return nil
}

// inspectUF2 checks every 512-byte block: both start magics, the end
// magic, and the payload size (UF2 spec, microsoft/uf2 README).
func inspectUF2(name string, r io.ReaderAt, size int64, img *Image) error {
	if size%512 != 0 {
		return badImage(name, "UF2 file of %d bytes is not a whole number of 512-byte blocks: it was cut short", size)
	}
	var blk [512]byte
	seen := map[uint32]bool{}
	for off := int64(0); off < size; off += 512 {
		if _, err := r.ReadAt(blk[:], off); err != nil && err != io.EOF {
			return fmt.Errorf("firmware %s: %w", name, err)
		}
		le := binary.LittleEndian
		if le.Uint32(blk[0:]) != uf2Magic0 || le.Uint32(blk[4:]) != uf2Magic1 || le.Uint32(blk[508:]) != uf2MagicEnd {
			return badImage(name, "UF2 block %d (offset %d) has bad magic numbers: the file is damaged", off/512, off)
		}
		if n := le.Uint32(blk[16:]); n > 476 {
			return badImage(name, "UF2 block %d claims a %d-byte payload (at most 476)", off/512, n)
		}
		img.UF2Blocks++
		flags := le.Uint32(blk[8:])
		if flags&uf2FlagFamilyID != 0 && flags&uf2FlagNotMain == 0 {
			if f := le.Uint32(blk[28:]); !seen[f] {
				seen[f] = true
				img.UF2Families = append(img.UF2Families, f)
			}
		}
	}
	return nil
}

func looksHex(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	line = bytes.TrimRight(line, "\r")
	if len(line) < 11 {
		return false
	}
	_, err := hex.DecodeString(string(line[1:]))
	return err == nil
}

// inspectHex checks every Intel HEX record's checksum and finds the
// address range written (types 00 data, 01 EOF, 02 segment, 04 linear).
func inspectHex(name string, r io.Reader, img *Image) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1024), 1024)
	var base uint32
	lineNo, eof, any := 0, false, false
	img.HexStart = ^uint32(0)
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if eof {
			return badImage(name, "line %d: data after the end-of-file record", lineNo)
		}
		if line[0] != ':' || len(line) < 11 || len(line)%2 == 0 {
			return badImage(name, "line %d is not an Intel HEX record", lineNo)
		}
		rec, err := hex.DecodeString(line[1:])
		if err != nil {
			return badImage(name, "line %d: %v", lineNo, err)
		}
		n := int(rec[0])
		if len(rec) != n+5 {
			return badImage(name, "line %d: record length %d does not match its %d bytes", lineNo, n, len(rec)-5)
		}
		var sum byte
		for _, b := range rec {
			sum += b
		}
		if sum != 0 {
			return badImage(name, "line %d: checksum mismatch: the file is damaged", lineNo)
		}
		addr := uint32(rec[1])<<8 | uint32(rec[2])
		data := rec[4 : 4+n]
		switch rec[3] {
		case 0x00:
			start := base + addr
			img.HexStart = min(img.HexStart, start)
			img.HexEnd = max(img.HexEnd, start+uint32(n))
			any = true
		case 0x01:
			eof = true
		case 0x02:
			if n != 2 {
				return badImage(name, "line %d: bad segment address record", lineNo)
			}
			base = (uint32(data[0])<<8 | uint32(data[1])) << 4
		case 0x04:
			if n != 2 {
				return badImage(name, "line %d: bad linear address record", lineNo)
			}
			base = (uint32(data[0])<<8 | uint32(data[1])) << 16
		case 0x03, 0x05:
		default:
			return badImage(name, "line %d: unknown record type %02x", lineNo, rec[3])
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return badImage(name, "line %d is longer than any Intel HEX record", lineNo+1)
		}
		return fmt.Errorf("firmware %s: %w", name, err)
	}
	if !eof {
		return badImage(name, "no end-of-file record: the file was cut short")
	}
	if !any {
		img.HexStart = 0
	}
	return nil
}

// Describe says what the image is in a few words.
func (img *Image) Describe() string {
	switch img.Format {
	case FormatESP:
		kind := "bootloader"
		switch {
		case img.ESPMerged:
			kind = "merged bootloader+app"
		case img.ESPApp:
			kind = "application"
		}
		return fmt.Sprintf("ESP image (%s) for %s", kind, img.ESPChip)
	case FormatELF:
		return "ELF for " + img.ELFMachine
	case FormatUF2:
		var fs []string
		for _, f := range img.UF2Families {
			fs = append(fs, UF2FamilyName(f))
		}
		if len(fs) == 0 {
			fs = []string{"no family id"}
		}
		return fmt.Sprintf("UF2, %d blocks, family %s", img.UF2Blocks, strings.Join(fs, ", "))
	case FormatIHex:
		return fmt.Sprintf("Intel HEX, 0x%08x–0x%08x", img.HexStart, img.HexEnd)
	}
	return fmt.Sprintf("raw binary, %d bytes", img.Size)
}
