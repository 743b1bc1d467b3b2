package flash_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/firmware/flash"
	"github.com/tinyprof/tinyprof/firmware/flash/flashtest"
	"github.com/tinyprof/tinyprof/platform"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func plat(t *testing.T, name string) platform.Platform {
	t.Helper()
	p, err := platform.Lookup(name)
	require.NoError(t, err)
	return p
}

func inspect(t *testing.T, data []byte) (*flash.Image, error) {
	t.Helper()
	return flash.Inspect("fw", bytes.NewReader(data), int64(len(data)))
}

func TestInspect(t *testing.T) {
	merged := append(flashtest.ESPImage(0x0009, false), make([]byte, 0x10000)...)
	copy(merged[0x10000:], flashtest.ESPImage(0x0009, true))
	tests := []struct {
		name     string
		data     []byte
		describe string
	}{
		{"esp32s3 app", flashtest.ESPImage(0x0009, true), "ESP image (application) for esp32s3"},
		{"esp32 bootloader", flashtest.ESPImage(0x0000, false), "ESP image (bootloader) for esp32"},
		{"esp32p4 app", flashtest.ESPImage(0x0012, true), "ESP image (application) for esp32p4"},
		{"esp32s3 merged", merged, "ESP image (merged bootloader+app) for esp32s3"},
		{"elf arm", flashtest.ELF(40), "ELF for ARM"},
		{"elf xtensa", flashtest.ELF(94), "ELF for Xtensa"},
		{"uf2 rp2040", flashtest.UF2(flash.UF2RP2040, 0x10000000, 3), "UF2, 3 blocks, family RP2040 (0xe48bff56)"},
		{"hex", flashtest.IntelHex(0x08000000, 40), "Intel HEX, 0x08000000–0x08000028"},
		{"raw", []byte{1, 2, 3, 4}, "raw binary, 4 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := inspect(t, tt.data)
			require.NoError(t, err)
			assert.Equal(t, tt.describe, img.Describe())
			assert.Len(t, img.SHA256, 64)
		})
	}
}

func TestInspectBad(t *testing.T) {
	uf2 := flashtest.UF2(flash.UF2RP2040, 0x10000000, 2)
	corruptUF2 := append([]byte(nil), uf2...)
	corruptUF2[512+508] = 0
	hex := flashtest.IntelHex(0x08000000, 32)
	badSum := bytes.Replace(hex, []byte(":10000000"), []byte(":10000001"), 1)
	esp := flashtest.ESPImage(0x0009, true)
	esp[12] = 0x77 // unknown chip id
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "empty"},
		{"uf2 cut short", string(uf2[:700]), "not a whole number of 512-byte blocks"},
		{"uf2 bad end magic", string(corruptUF2), "block 1 (offset 512) has bad magic"},
		{"hex checksum", string(badSum), "checksum mismatch"},
		{"hex without eof", string(hex[:len(hex)-12]), "no end-of-file record"},
		{"esp unknown chip", string(esp), "unknown chip id 0x0077"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := inspect(t, []byte(tt.data))
			require.Error(t, err)
			assert.ErrorIs(t, err, flash.ErrBadImage)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := flash.InspectFile(filepath.Join(t.TempDir(), "missing.bin"))
	assert.ErrorContains(t, err, "does not exist")
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		data     []byte
		platform string
		want     string // "" for ok
	}{
		{"esp32s3 app on esp32s3", flashtest.ESPImage(0x0009, true), "esp32s3", ""},
		{"esp32 app on esp32s3", flashtest.ESPImage(0x0000, true), "esp32s3", "for esp32, but the board is esp32s3"},
		{"esp32s3 app on stm32f4", flashtest.ESPImage(0x0009, true), "stm32f4", "but the board is stm32f4"},
		{"elf on esp", flashtest.ELF(94), "esp32s3", "elf2image"},
		{"xtensa elf on rp2040", flashtest.ELF(94), "rp2040", "which a rp2040 cannot run"},
		{"arm elf on rp2040", flashtest.ELF(40), "rp2040", ""},
		{"riscv elf on rp2350", flashtest.ELF(243), "rp2350", ""},
		{"rp2040 uf2 on rp2350", flashtest.UF2(flash.UF2RP2040, 0x10000000, 1), "rp2350", "family RP2040 (0xe48bff56), but the board is rp2350"},
		{"rp2350 uf2 on rp2350", flashtest.UF2(flash.UF2RP2350ArmS, 0x10000000, 1), "rp2350", ""},
		{"absolute uf2 on rp2040", flashtest.UF2(flash.UF2Absolute, 0x10000000, 1), "rp2040", ""},
		{"uf2 on stm32", flashtest.UF2(flash.UF2STM32F4, 0x08000000, 1), "stm32f4", "drag-and-drop"},
		{"hex on stm32 flash", flashtest.IntelHex(0x08000000, 64), "stm32f4", ""},
		{"hex outside stm32 flash", flashtest.IntelHex(0x00000000, 64), "stm32f4", "outside the stm32f4's flash"},
		{"hex on nrf52840", flashtest.IntelHex(0, 64), "nrf52840", ""},
		{"raw on nrf52840", []byte{1, 2, 3}, "nrf52840", "writes Intel HEX"},
		{"hex on esp", flashtest.IntelHex(0, 64), "esp32", "does not write"},
		{"anything on a Pi", []byte{1}, "rpi-zero-2w", "rpi-imager"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := inspect(t, tt.data)
			require.NoError(t, err)
			err = img.Check(plat(t, tt.platform))
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
			if tt.platform != "rpi-zero-2w" {
				assert.ErrorIs(t, err, flash.ErrMismatch)
			}
		})
	}
}

// onPath pretends exactly the named tools are installed.
func onPath(names ...string) func(string) (string, error) {
	return func(n string) (string, error) {
		for _, x := range names {
			if x == n {
				return "/opt/bin/" + n, nil
			}
		}
		return "", errors.New("not found")
	}
}

func TestPlan(t *testing.T) {
	dir := t.TempDir()
	app := flashtest.Write(t, dir, "app.bin", flashtest.ESPImage(0x0009, true))
	boot32 := flashtest.Write(t, dir, "boot.bin", flashtest.ESPImage(0x0000, false))
	p4 := flashtest.Write(t, dir, "p4boot.bin", flashtest.ESPImage(0x0012, false))
	raw := flashtest.Write(t, dir, "fw.bin", bytes.Repeat([]byte{7}, 100))
	hex := flashtest.Write(t, dir, "fw.hex", flashtest.IntelHex(0x08000000, 64))
	nhex := flashtest.Write(t, dir, "nrf.hex", flashtest.IntelHex(0, 64))
	uf2 := flashtest.Write(t, dir, "fw.uf2", flashtest.UF2(flash.UF2RP2040, 0x10000000, 2))
	tests := []struct {
		name     string
		file     string
		platform string
		tools    []string
		opts     flash.Options
		want     string
	}{
		{"esptool v5 app", app, "esp32s3", []string{"esptool", "esptool.py"}, flash.Options{Port: "/dev/ttyACM0"},
			"/opt/bin/esptool --chip esp32s3 --port /dev/ttyACM0 --baud 460800 write-flash 0x10000 " + app + "\n"},
		{"esptool v4 with verify", app, "esp32s3", []string{"esptool.py"}, flash.Options{Port: "/dev/ttyUSB0", Verify: true, Baud: 921600},
			"/opt/bin/esptool.py --chip esp32s3 --port /dev/ttyUSB0 --baud 921600 write_flash 0x10000 " + app + "\n" +
				"/opt/bin/esptool.py --chip esp32s3 --port /dev/ttyUSB0 --baud 921600 verify_flash 0x10000 " + app + "\n"},
		{"esp32 bootloader at 0x1000", boot32, "esp32", []string{"esptool"}, flash.Options{Port: "/dev/ttyUSB0"},
			"/opt/bin/esptool --chip esp32 --port /dev/ttyUSB0 --baud 460800 write-flash 0x1000 " + boot32 + "\n"},
		{"esp32p4 bootloader at 0x2000", p4, "esp32p4", []string{"esptool"}, flash.Options{Port: "/dev/ttyUSB0"},
			"/opt/bin/esptool --chip esp32p4 --port /dev/ttyUSB0 --baud 460800 write-flash 0x2000 " + p4 + "\n"},
		{"esp raw data with an offset", raw, "esp32s3", []string{"esptool"}, flash.Options{Port: "/dev/ttyACM0", Offset: 0x200000},
			"/opt/bin/esptool --chip esp32s3 --port /dev/ttyACM0 --baud 460800 write-flash 0x200000 " + raw + "\n"},
		{"st-flash bin", raw, "stm32f4", []string{"st-flash"}, flash.Options{Serial: "066DFF3"},
			"/opt/bin/st-flash --serial 066DFF3 --reset write " + raw + " 0x8000000\n"},
		{"st-flash hex", hex, "stm32h7", []string{"st-flash", "STM32_Programmer_CLI"}, flash.Options{},
			"/opt/bin/st-flash --format ihex --reset write " + hex + "\n"},
		{"cube programmer", raw, "stm32f7", []string{"STM32_Programmer_CLI"}, flash.Options{Verify: true, Serial: "X1"},
			"/opt/bin/STM32_Programmer_CLI -c 'port=SWD sn=X1' -w " + raw + " 0x8000000 -v -rst\n"},
		{"picotool uf2", uf2, "rp2040", []string{"picotool"}, flash.Options{Verify: true},
			"/opt/bin/picotool load -v -x " + uf2 + " -f\n"},
		{"picotool bin", raw, "rp2350", []string{"picotool"}, flash.Options{Serial: "E66"},
			"/opt/bin/picotool load -x " + raw + " -t bin -o 0x10000000 --ser E66 -f\n"},
		{"nrfjprog", nhex, "nrf52840", []string{"nrfjprog", "nrfutil"}, flash.Options{Verify: true, Serial: "683"},
			"/opt/bin/nrfjprog -f NRF52 --snr 683 --program " + nhex + " --sectorerase --verify --reset\n"},
		{"nrfutil", nhex, "nrf52840", []string{"nrfutil"}, flash.Options{Verify: true},
			"/opt/bin/nrfutil device program --firmware " + nhex + " --options chip_erase_mode=ERASE_RANGES_TOUCHED_BY_FIRMWARE,verify=VERIFY_READ\n/opt/bin/nrfutil device reset\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := flash.InspectFile(tt.file)
			require.NoError(t, err)
			if tt.opts.Offset == 0 {
				tt.opts.Offset = -1
			}
			tt.opts.LookPath = onPath(tt.tools...)
			plan, err := flash.NewPlan(img, plat(t, tt.platform), tt.opts)
			require.NoError(t, err)
			if diff := cmp.Diff(tt.want, plan.String()); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	dir := t.TempDir()
	app := flashtest.Write(t, dir, "app.bin", flashtest.ESPImage(0x0009, true))
	raw := flashtest.Write(t, dir, "fw.bin", []byte{1, 2, 3})
	img, err := flash.InspectFile(app)
	require.NoError(t, err)

	_, err = flash.NewPlan(img, plat(t, "esp32s3"), flash.Options{Port: "/dev/x", Offset: -1, LookPath: onPath()})
	require.ErrorIs(t, err, flash.ErrToolMissing)
	assert.ErrorContains(t, err, "pip install esptool")

	_, err = flash.NewPlan(img, plat(t, "esp32s3"), flash.Options{Offset: -1, LookPath: onPath("esptool")})
	assert.ErrorContains(t, err, "needs the board's serial port")

	rimg, err := flash.InspectFile(raw)
	require.NoError(t, err)
	_, err = flash.NewPlan(rimg, plat(t, "esp32s3"), flash.Options{Port: "/dev/x", Offset: -1, LookPath: onPath("esptool")})
	assert.ErrorContains(t, err, "pass --offset")

	_, err = flash.NewPlan(rimg, plat(t, "stm32f4"), flash.Options{Offset: -1, Tool: "STM32_Programmer_CLI", LookPath: onPath("st-flash")})
	require.ErrorIs(t, err, flash.ErrToolMissing)
	assert.ErrorContains(t, err, "known flashers: st-flash, STM32_Programmer_CLI")
}

// plan builds a plan running a fake esptool from dir.
func fakePlan(t *testing.T, dir string) *flash.Plan {
	t.Helper()
	img, err := flash.InspectFile(flashtest.Write(t, dir, "app.bin", flashtest.ESPImage(0x0009, true)))
	require.NoError(t, err)
	plan, err := flash.NewPlan(img, plat(t, "esp32s3"), flash.Options{Port: "/dev/ttyACM0", Offset: -1, Verify: true,
		LookPath: func(n string) (string, error) {
			p := filepath.Join(dir, n)
			if _, err := os.Stat(p); err != nil {
				return "", err
			}
			return p, nil
		}})
	require.NoError(t, err)
	return plan
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	out := "esptool v5.0.0\nConnecting....\nWriting at 0x00010000... (12 %)\rWriting at 0x00014000... (50 %)\rWriting at 0x00018000 [=====>   ] 100.0% 4096/4096 bytes...\nWrote 4096 bytes at 0x00010000 in 0.1 seconds\nHash of data verified.\nHard resetting via RTS pin..."
	flashtest.FakeTool(t, dir, "esptool", out, 0, 0)
	plan := fakePlan(t, dir)

	var got []flash.Progress
	var output bytes.Buffer
	require.NoError(t, flash.Run(t.Context(), plan, flash.RunOptions{Output: &output, OnProgress: func(p flash.Progress) { got = append(got, p) }}))

	args, err := os.ReadFile(filepath.Join(dir, "esptool.args"))
	require.NoError(t, err)
	assert.Equal(t, "--chip\nesp32s3\n--port\n/dev/ttyACM0\n--baud\n460800\nverify-flash\n0x10000\n"+plan.Image.Path+"\n", string(args), "the last step run was the verify pass")

	var pcts []float64
	for _, p := range got {
		if p.Step == 0 && p.Percent >= 0 {
			pcts = append(pcts, p.Percent)
		}
	}
	assert.Equal(t, []float64{12, 50, 100}, pcts, "esptool v4 and v5 progress lines, split on carriage returns")
	assert.Contains(t, output.String(), "Hash of data verified.")
}

func TestRunFailures(t *testing.T) {
	t.Run("exit status", func(t *testing.T) {
		dir := t.TempDir()
		flashtest.FakeTool(t, dir, "esptool", "Connecting........_____\nA fatal error occurred: Failed to connect to ESP32-S3: No serial data received.", 2, 0)
		err := flash.Run(t.Context(), fakePlan(t, dir), flash.RunOptions{})
		require.ErrorIs(t, err, flash.ErrFlasher)
		var te *flash.ToolError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, 2, te.ExitCode)
		assert.Contains(t, err.Error(), "No serial data received")
		assert.Contains(t, err.Error(), "hold BOOT")
	})
	t.Run("timeout kills the flasher", func(t *testing.T) {
		dir := t.TempDir()
		flashtest.FakeTool(t, dir, "esptool", "Connecting....", 0, 60)
		start := time.Now()
		err := flash.Run(t.Context(), fakePlan(t, dir), flash.RunOptions{Timeout: 300 * time.Millisecond})
		require.ErrorIs(t, err, flash.ErrTimeout)
		assert.Contains(t, err.Error(), "Connecting....")
		assert.Less(t, time.Since(start), 30*time.Second, "the sleeping child was killed with its process group, not waited for")
	})
}

func TestParseProgress(t *testing.T) {
	tests := []struct {
		line  string
		phase string
		pct   float64
	}{
		{"Writing at 0x00010000... (12 %)", "write", 12},
		{"Writing at 0x0001c000 [=====>     ] 24.5% 12288/50000 bytes...", "write", 24.5},
		{"36/72 pages written", "write", 50},
		{"Loading into Flash:   [=====               ]  25%", "write", 25},
		{"Verifying Flash:      [====================]  100%", "verify", 100},
		{"Erasing:              [====================]  100%", "erase", 100},
		{"Hash of data verified.", "verify", -1},
		{"Applying system reset.", "reset", -1},
		{"  Download in Progress:  [=======     ] 33%", "", 33},
	}
	for _, tt := range tests {
		p, ok := flash.ParseProgress(tt.line)
		require.True(t, ok, tt.line)
		assert.Equal(t, tt.phase, p.Phase, tt.line)
		assert.Equal(t, tt.pct, p.Percent, tt.line)
	}
	_, ok := flash.ParseProgress("Chip is ESP32-S3 (QFN56) (revision v0.2)")
	assert.False(t, ok)
}

func FuzzInspect(f *testing.F) {
	f.Add(flashtest.ESPImage(0x0009, true))
	f.Add(flashtest.UF2(flash.UF2RP2040, 0x10000000, 1))
	f.Add(flashtest.IntelHex(0x08000000, 20))
	f.Add(flashtest.ELF(40))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := flash.Inspect("fuzz", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		_ = img.Describe()
		for _, name := range platform.Names() {
			p, _ := platform.Lookup(name)
			_ = img.Check(p)
		}
		if strings.TrimSpace(img.SHA256) == "" {
			t.Fatal("no digest")
		}
	})
}
