package emu

import (
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tinyprof/tinyprof/firmware/agent"
	"github.com/tinyprof/tinyprof/firmware/runtime"
)

// hooksSources are the units that implement the agent's model and
// generation hooks: the inference runtime (firmware/runtime), unpacked
// under runtime/.
var hooksSources = func() []string {
	out := make([]string, len(runtime.PortSources))
	for i, f := range runtime.PortSources {
		out[i] = "runtime/" + f
	}
	return out
}()

// sourceTrees are the embedded source trees a build unpacks, each into the
// named subdirectory of the build's source directory ("" for its root) and
// on the include path.
var sourceTrees = []struct {
	dir  string
	fsys fs.FS
}{
	{"", agent.Sources},
	{"runtime", runtime.Sources},
}

// commonSources are compiled for every target, besides its driver.
var commonSources = []string{"tinyprof_agent.c", "boards/common/main.c", "boards/common/startup.c"}

// baseFlags are the compiler flags of every target; -ffp-contract=off keeps
// floating point bit-exact across the host build and the boards.
var baseFlags = []string{
	"-std=c99", "-mthumb", "-Os", "-ffp-contract=off", "-ffunction-sections", "-fdata-sections",
	"-Wall", "-Wextra", "-Werror", "-g", "--specs=nano.specs", "-nostartfiles", "-Wl,--gc-sections",
}

// Firmware is a built image.
type Firmware struct {
	// ELF is the image's path in the build cache. Do not modify it.
	ELF string
	// Text, Data and BSS are its sizes in bytes as arm-none-eabi-size
	// counts them, except that BSS leaves out the regions the linker script
	// reserves (arena, upload buffer, stack): flash holds Text+Data, static
	// RAM is Data+BSS.
	Text, Data, BSS int
	// Arena and Stack are the bytes of RAM reserved for the inference hooks'
	// arena and for the stack.
	Arena, Stack int
	// Key is the hash of everything the image was built from.
	Key string

	seedAddr uint64 // address of tp_board_seed, 0 if absent
}

// buildConfig is what determines an image.
type buildConfig struct {
	machine    Machine
	cc         string
	defines    []string
	flashModel []byte
}

// Build builds the firmware for machine, or finds it in the cache, which is
// keyed by a hash of the sources, flags, compiler version and flash model.
// Concurrent builds of the same image, in one process or several, are
// safe: each builds in a directory of its own and renames it into place. A
// build takes a second or two; a cached one a few milliseconds. Old images
// are not pruned.
func Build(ctx context.Context, machine string, opts BuildOptions) (*Firmware, error) {
	m, err := LookupMachine(machine)
	if err != nil {
		return nil, err
	}
	cc := opts.CC
	if cc == "" {
		cc = "arm-none-eabi-gcc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		return nil, fmt.Errorf("emu: %s not found: %w (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)", cc, ErrToolMissing)
	}
	return build(ctx, buildConfig{machine: m, cc: cc, defines: opts.Defines, flashModel: opts.FlashModel}, opts.CacheDir)
}

// BuildOptions configures Build. The zero value builds the standard image.
type BuildOptions struct {
	// CC is the cross compiler. Default "arm-none-eabi-gcc".
	CC string
	// Defines are extra -D options, e.g. "TP_MAX_PAYLOAD=256".
	Defines []string
	// FlashModel, if set, is linked into flash and handed to the inference
	// hooks as a preloaded model.
	FlashModel []byte
	// CacheDir holds built images. Default os.UserCacheDir()/tinyprof/firmware.
	CacheDir string
}

// ErrToolMissing reports that arm-none-eabi-gcc or qemu-system-arm is not
// installed; the message names the Debian package.
var ErrToolMissing = errors.New("tool not installed")

func build(ctx context.Context, cfg buildConfig, cacheDir string) (*Firmware, error) {
	if cacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("emu: no cache directory (%w); set BuildOptions.CacheDir", err)
		}
		cacheDir = filepath.Join(base, "tinyprof", "firmware")
	}
	version, err := exec.CommandContext(ctx, cfg.cc, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("emu: %s --version: %w", cfg.cc, err)
	}
	key, err := cfg.key(version)
	if err != nil {
		return nil, err
	}
	final := filepath.Join(cacheDir, cfg.machine.Name+"-"+key[:24])
	elfPath := filepath.Join(final, "image.elf")
	if _, err := os.Stat(elfPath); err != nil {
		if err := os.MkdirAll(cacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("emu: firmware cache: %w", err)
		}
		tmp, err := os.MkdirTemp(cacheDir, ".build-")
		if err != nil {
			return nil, fmt.Errorf("emu: firmware cache: %w", err)
		}
		if err := cfg.compile(ctx, tmp); err != nil {
			os.RemoveAll(tmp)
			return nil, err
		}
		// Whoever renames first wins; a loser finds the image in place.
		if err := os.Rename(tmp, final); err != nil {
			os.RemoveAll(tmp)
			if _, serr := os.Stat(elfPath); serr != nil {
				return nil, fmt.Errorf("emu: firmware cache: %w", err)
			}
		}
	}
	fw := &Firmware{ELF: elfPath, Key: key}
	if err := fw.inspect(); err != nil {
		return nil, err
	}
	return fw, nil
}

// key hashes the sources, the flags, the machine, the compiler's version
// and the flash model.
func (cfg buildConfig) key(ccVersion []byte) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "machine %s\ncc %s\n%s\n", cfg.machine.Name, cfg.cc, ccVersion)
	fmt.Fprintf(h, "flags %q %q %q %q\n", baseFlags, cfg.machine.cflags, cfg.defines, hooksSources)
	for _, tree := range sourceTrees {
		err := fs.WalkDir(tree.fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(tree.fsys, path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "file %s %x\n", filepath.Join(tree.dir, path), sha256.Sum256(b))
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("emu: embedded sources: %w", err)
		}
	}
	fmt.Fprintf(h, "flash model %x\n", sha256.Sum256(cfg.flashModel))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// compile writes the embedded sources under dir/src and builds dir/image.elf.
func (cfg buildConfig) compile(ctx context.Context, dir string) error {
	src := filepath.Join(dir, "src")
	args := append([]string{}, baseFlags...)
	args = append(args, cfg.machine.cflags...)
	for _, tree := range sourceTrees {
		if err := os.CopyFS(filepath.Join(src, tree.dir), tree.fsys); err != nil {
			return fmt.Errorf("emu: unpack sources: %w", err)
		}
		args = append(args, "-I"+filepath.Join(".", tree.dir))
	}
	target := filepath.Join("boards", cfg.machine.Name)
	args = append(args, "-Iboards/common", "-I"+target, "-Lboards/common", "-T"+filepath.Join(target, "link.ld"))
	for _, d := range cfg.defines {
		args = append(args, "-D"+d)
	}
	srcs := append(append(append([]string{}, commonSources...), "boards/drivers/"+cfg.machine.driver), hooksSources...)
	if len(cfg.flashModel) > 0 {
		blob := filepath.Join(dir, "flash_model.bin")
		if err := os.WriteFile(blob, cfg.flashModel, 0o644); err != nil {
			return fmt.Errorf("emu: flash model: %w", err)
		}
		sum := sha256.Sum256(cfg.flashModel)
		hexes := make([]string, len(sum))
		for i, b := range sum {
			hexes[i] = fmt.Sprintf("%#02x", b)
		}
		args = append(args, fmt.Sprintf("-DTP_FLASH_MODEL=%q", blob), "-DTP_FLASH_MODEL_SHA256="+strings.Join(hexes, ","))
		srcs = append(srcs, "boards/common/flash_model.S")
	}
	args = append(args, srcs...)
	args = append(args, "-o", filepath.Join(dir, "image.elf"))
	cmd := exec.CommandContext(ctx, cfg.cc, args...)
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("emu: building firmware for %s: %s %s: %w\n%s", cfg.machine.Name, cfg.cc, strings.Join(args, " "), err, out)
	}
	// The command line, for anyone rebuilding by hand.
	line := cfg.cc + " " + strings.Join(args, " ") + "\n"
	return os.WriteFile(filepath.Join(dir, "build.txt"), []byte(line), 0o644)
}

// inspect reads the image's section sizes and the seed's address.
func (fw *Firmware) inspect() error {
	f, err := elf.Open(fw.ELF)
	if err != nil {
		return fmt.Errorf("emu: firmware image: %w", err)
	}
	defer f.Close()
	for _, s := range f.Sections {
		switch {
		case s.Name == ".text" || s.Name == ".ARM.exidx":
			fw.Text += int(s.Size)
		case s.Name == ".data":
			fw.Data += int(s.Size)
		case s.Name == ".bss" || s.Name == ".noinit":
			fw.BSS += int(s.Size)
		case s.Name == ".arena":
			fw.Arena = int(s.Size)
		case s.Name == ".stack":
			fw.Stack = int(s.Size)
		}
	}
	syms, err := f.Symbols()
	if err != nil {
		return fmt.Errorf("emu: firmware symbols: %w", err)
	}
	for _, s := range syms {
		if s.Name == "tp_board_seed" {
			fw.seedAddr = s.Value
		}
	}
	if fw.seedAddr == 0 {
		return fmt.Errorf("emu: firmware %s has no tp_board_seed", fw.ELF)
	}
	return nil
}
