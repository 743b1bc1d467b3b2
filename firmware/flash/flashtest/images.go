// Package flashtest builds small, well-formed firmware images of every
// format package flash recognises, and fake flasher executables, for tests.
package flashtest

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ESPImage returns an ESP firmware image for the chip with the given
// extended-header chip id (0x0009 for the ESP32-S3): an application with
// an esp_app_desc_t when app is true, else a bootloader. Its layout
// follows esptool's "Firmware Image Format"; the checksum and digest are
// not computed, since only the flasher and the ROM check them.
func ESPImage(chipID uint16, app bool) []byte {
	b := make([]byte, 24, 4096)
	b[0], b[1], b[2], b[3] = 0xE9, 1, 2, 0x20 // magic, 1 segment, DIO, 4 MB/40 MHz
	binary.LittleEndian.PutUint32(b[4:], 0x40080000)
	b[8] = 0xEE // WP pin disabled
	binary.LittleEndian.PutUint16(b[12:], chipID)
	seg := make([]byte, 256)
	if app {
		binary.LittleEndian.PutUint32(seg, 0xABCD5432) // esp_app_desc_t.magic_word
		copy(seg[16:], "tinyprof-agent")
	}
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[0:], 0x3F400020)
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(seg)))
	b = append(b, hdr[:]...)
	b = append(b, seg...)
	for len(b)%16 != 15 {
		b = append(b, 0)
	}
	return append(b, 0xEF) // checksum byte position
}

// UF2 returns a UF2 file of n blocks for the family id, writing from base.
func UF2(family uint32, base uint32, n int) []byte {
	out := make([]byte, 0, 512*n)
	for i := range n {
		var blk [512]byte
		le := binary.LittleEndian
		le.PutUint32(blk[0:], 0x0A324655)
		le.PutUint32(blk[4:], 0x9E5D5157)
		le.PutUint32(blk[8:], 0x00002000) // family id present
		le.PutUint32(blk[12:], base+uint32(256*i))
		le.PutUint32(blk[16:], 256)
		le.PutUint32(blk[20:], uint32(i))
		le.PutUint32(blk[24:], uint32(n))
		le.PutUint32(blk[28:], family)
		for j := 32; j < 32+256; j++ {
			blk[j] = byte(i + j)
		}
		le.PutUint32(blk[508:], 0x0AB16F30)
		out = append(out, blk[:]...)
	}
	return out
}

// IntelHex returns an Intel HEX file writing n bytes from base, with
// extended linear address records and correct checksums.
func IntelHex(base uint32, n int) []byte {
	var b strings.Builder
	record := func(typ byte, addr uint16, data []byte) {
		rec := append([]byte{byte(len(data)), byte(addr >> 8), byte(addr), typ}, data...)
		var sum byte
		for _, x := range rec {
			sum += x
		}
		fmt.Fprintf(&b, ":%X%02X\n", rec, byte(-sum))
	}
	upper := uint32(1) << 31 // force a first linear address record
	for off := 0; off < n; off += 16 {
		addr := base + uint32(off)
		if addr>>16 != upper {
			upper = addr >> 16
			record(0x04, 0, []byte{byte(upper >> 8), byte(upper)})
		}
		data := make([]byte, min(16, n-off))
		for i := range data {
			data[i] = byte(off + i)
		}
		record(0x00, uint16(addr), data)
	}
	record(0x01, 0, nil)
	return []byte(b.String())
}

// ELF returns the 52-byte header of a 32-bit little-endian ELF executable
// for machine (40 Arm, 94 Xtensa, 243 RISC-V), padded to 64 bytes.
func ELF(machine uint16) []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 1, 1, 1 // 32-bit, little-endian, version 1
	binary.LittleEndian.PutUint16(b[16:], 2)
	binary.LittleEndian.PutUint16(b[18:], machine)
	binary.LittleEndian.PutUint32(b[20:], 1)
	return b
}

// Write writes data to name in dir and returns its path.
func Write(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// FakeTool writes an executable shell script called name into dir that
// records its arguments, one a line, in dir/name.args, prints output, and
// exits with status exit after sleeping sleep seconds (0 for none). Put dir
// first on PATH to make it the flasher found.
func FakeTool(tb testing.TB, dir, name, output string, exit int, sleep float64) string {
	tb.Helper()
	script := fmt.Sprintf("#!/bin/sh\nfor a in \"$@\"; do printf '%%s\\n' \"$a\"; done > %q\ncat <<'EOF'\n%s\nEOF\n", filepath.Join(dir, name+".args"), output)
	if sleep > 0 {
		script += fmt.Sprintf("sleep %g\n", sleep)
	}
	script += fmt.Sprintf("exit %d\n", exit)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		tb.Fatal(err)
	}
	return p
}
