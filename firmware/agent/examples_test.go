package agent

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExamplesCompile compiles every example integration under examples/
// against the stub vendor headers in its stubs/ directory and the agent's
// headers, with warnings as errors, so that a change to the agent's API
// breaks the build of the examples here and not in a firmware author's
// hands. A port must also define every tp_port_* function of
// tinyprof_port.h, which the object file's symbol table shows.
//
// The stubs declare only what the examples call, with the vendor SDKs'
// signatures; the examples are not linked or run.
func TestExamplesCompile(t *testing.T) {
	cc := compiler(t)
	ports := portFunctions(t)
	for _, tc := range []struct {
		name, src string
		flags     []string // as in the example's CMakeLists.txt
		port      bool     // defines the tp_port_* functions
	}{
		{"esp-idf", "examples/esp-idf/tinyprof_esp.c", []string{"-Iexamples/esp-idf/stubs"}, true},
		{"rp2040", "examples/rp2040/tinyprof_rp2040.c", []string{"-Iexamples/rp2040/stubs", "-DTP_MODEL_WINDOW=1", "-DTP_LLAMA2_MAX_SEQ=64"}, true},
		{"llama2", "examples/llama2/tp_llama2.c", nil, false},
		{"llama2-capped", "examples/llama2/tp_llama2.c", []string{"-DTP_LLAMA2_MAX_SEQ=64"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := filepath.Join(t.TempDir(), "example.o")
			args := append([]string{"-std=c99", "-Wall", "-Wextra", "-Werror", "-c", "-o", obj}, tc.flags...)
			args = append(args, "-I.", "-Iexamples/llama2", tc.src)
			out, err := exec.CommandContext(t.Context(), cc, args...).CombinedOutput()
			require.NoError(t, err, "%s %q\n%s", cc, args, out)
			if !tc.port {
				return
			}
			defined, err := definedSymbols(obj)
			var format *elf.FormatError
			if errors.As(err, &format) {
				t.Skipf("%s does not write ELF objects: cannot check that %s defines the port", cc, tc.src)
			}
			require.NoError(t, err)
			for _, fn := range ports {
				assert.True(t, slices.Contains(defined, fn), "%s does not define %s (tinyprof_port.h)", tc.src, fn)
			}
		})
	}
}

// portFunctions returns the functions tinyprof_port.h declares.
func portFunctions(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("tinyprof_port.h")
	require.NoError(t, err)
	var fns []string
	for _, m := range regexp.MustCompile(`(?m)^[a-z][\w ]*[ *](tp_port_\w+)\(`).FindAllSubmatch(src, -1) {
		fns = append(fns, string(m[1]))
	}
	require.NotEmpty(t, fns, "no tp_port_* declarations in tinyprof_port.h")
	return fns
}

// definedSymbols returns the names of the functions and objects obj defines.
func definedSymbols(obj string) ([]string, error) {
	f, err := elf.Open(obj)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF && elf.ST_BIND(s.Info) == elf.STB_GLOBAL {
			names = append(names, s.Name)
		}
	}
	return names, nil
}
