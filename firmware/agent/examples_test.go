package agent

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tinyprof/tinyprof/firmware/runtime"
)

// TestExamplesCompile compiles every example integration under examples/
// against the stub vendor headers in its stubs/ directory and the agent's
// headers, with warnings as errors, so that a change to the agent's API
// breaks the build of the examples here and not in a firmware author's
// hands. The board examples take their inference hooks from the runtime
// (../runtime, tp_runtime_port.h), so each is compiled together with the
// runtime's sources, as its CMakeLists.txt does; the example and the
// runtime together must define every tp_port_* function of
// tinyprof_port.h, and no symbol twice, which the object files' symbol
// tables show.
//
// The stubs declare only what the examples call, with the vendor SDKs'
// signatures; the examples are not linked or run.
func TestExamplesCompile(t *testing.T) {
	cc := compiler(t)
	ports := portFunctions(t)
	readSources(t, "examples", "../runtime")
	var runtimeSrcs []string
	for _, f := range runtime.PortSources {
		runtimeSrcs = append(runtimeSrcs, filepath.Join("..", "runtime", f))
	}
	for _, tc := range []struct {
		name    string
		src     string
		flags   []string // as in the example's CMakeLists.txt
		runtime bool     // built with the runtime, and together they are a whole port
	}{
		{"esp-idf", "examples/esp-idf/tinyprof_esp.c", []string{"-Iexamples/esp-idf/stubs"}, true},
		{"esp-idf-flash-model", "examples/esp-idf/tinyprof_esp.c", []string{"-Iexamples/esp-idf/stubs", "-DTP_MODEL_BYTES=1024u", `-DTP_MODEL_SHA256="` + strings.Repeat("ab", 32) + `"`}, true},
		{"rp2040", "examples/rp2040/tinyprof_rp2040.c", []string{"-Iexamples/rp2040/stubs"}, true},
		{"rp2040-flash-model", "examples/rp2040/tinyprof_rp2040.c", []string{"-Iexamples/rp2040/stubs", "-DTP_MODEL_BYTES=1024u", `-DTP_MODEL_SHA256="` + strings.Repeat("0F", 32) + `"`}, true},
		{"llama2", "examples/llama2/tp_llama2.c", []string{"-Iexamples/llama2"}, false},
		{"llama2-capped", "examples/llama2/tp_llama2.c", []string{"-Iexamples/llama2", "-DTP_LLAMA2_MAX_SEQ=64"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srcs := []string{tc.src}
			if tc.runtime {
				srcs = append(srcs, runtimeSrcs...)
			}
			dir := t.TempDir()
			var objs []string
			for i, src := range srcs {
				obj := filepath.Join(dir, fmt.Sprintf("%d.o", i))
				args := append([]string{"-std=c99", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", "-c", "-o", obj}, tc.flags...)
				args = append(args, "-I.", "-I../runtime", src)
				out, err := exec.CommandContext(t.Context(), cc, args...).CombinedOutput()
				require.NoError(t, err, "%s %q\n%s", cc, args, out)
				objs = append(objs, obj)
			}
			if !tc.runtime {
				return
			}
			definedBy := map[string]string{}
			for i, obj := range objs {
				defined, err := definedSymbols(obj)
				var format *elf.FormatError
				if errors.As(err, &format) {
					t.Skipf("%s does not write ELF objects: cannot check that %s and the runtime define the port", cc, tc.src)
				}
				require.NoError(t, err)
				for _, sym := range defined {
					other, dup := definedBy[sym]
					assert.False(t, dup, "%s is defined by both %s and %s: the link would fail", sym, other, srcs[i])
					definedBy[sym] = srcs[i]
				}
			}
			for _, fn := range ports {
				assert.Contains(t, definedBy, fn, "neither %s nor the runtime defines %s (tinyprof_port.h)", tc.src, fn)
			}
		})
	}
}

// readSources reads every C source and header under dirs. The compiler
// reads them, not the test, so without this go test would not see that
// they changed and would replay a cached result.
func readSources(t testing.TB, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || (filepath.Ext(path) != ".c" && filepath.Ext(path) != ".h") {
				return err
			}
			_, err = os.ReadFile(path)
			return err
		})
		require.NoError(t, err)
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
