// Package ctest finds the host's C compiler for the tests that build
// tinyprof's C code (the agent, the runtime) as host programs.
package ctest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Compiler returns the system C compiler ($CC, cc, gcc or clang), or skips
// tb naming what was to be tested.
func Compiler(tb testing.TB, what string) string {
	tb.Helper()
	for _, cc := range []string{os.Getenv("CC"), "cc", "gcc", "clang"} {
		if cc == "" {
			continue
		}
		if p, err := exec.LookPath(cc); err == nil {
			return p
		}
	}
	tb.Skip("no C compiler (cc, gcc or clang) on PATH: install one to test " + what)
	return ""
}

// Sanitizers reports whether cc links and runs programs with ASan and
// UBSan. It is checked once per process.
var Sanitizers = sync.OnceValue(func() bool {
	cc, err := exec.LookPath("cc")
	if err != nil {
		return false
	}
	dir, err := os.MkdirTemp("", "tinyprof-cc")
	if err != nil {
		return false
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "t.c")
	if os.WriteFile(src, []byte("int main(void){return 0;}\n"), 0o644) != nil {
		return false
	}
	out := filepath.Join(dir, "t")
	if exec.Command(cc, "-fsanitize=address,undefined", src, "-o", out).Run() != nil {
		return false
	}
	return exec.Command(out).Run() == nil
})
