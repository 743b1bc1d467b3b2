package emu_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/emu"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/firmware/agent"
	"github.com/tinyprof/tinyprof/firmware/runtime"
	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/internal/pty"
	"github.com/tinyprof/tinyprof/serialport"
)

// hostAgent builds the C agent with the inference runtime as a host
// program (host/main.c with -DTP_HOST_RUNTIME) from the embedded sources,
// runs it behind a pty and returns the pty's master. It skips without a
// host C compiler.
func hostAgent(t *testing.T) *os.File {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no host C compiler (cc): install gcc to build the host agent")
	}
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, agent.Sources))
	require.NoError(t, os.CopyFS(filepath.Join(dir, "runtime"), runtime.Sources))
	args := []string{"-std=c99", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", "-DTP_HOST_RUNTIME", "-I.", "-Iruntime",
		"host/main.c", "tinyprof_agent.c"}
	for _, f := range runtime.PortSources {
		args = append(args, "runtime/"+f)
	}
	args = append(args, "-o", "host-agent")
	cmd := exec.CommandContext(t.Context(), cc, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", cc, strings.Join(args, " "), out)

	pair, err := pty.Open()
	require.NoError(t, err)
	run := exec.Command(filepath.Join(dir, "host-agent"))
	run.Stdin, run.Stdout = pair.Slave, pair.Slave
	require.NoError(t, run.Start())
	exited := make(chan struct{})
	go func() {
		_ = run.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = run.Process.Kill()
		<-exited
		_ = pair.Close()
	})
	return pair.Master
}

// TestBoardsAgree gives the same model and requests to the three kinds of
// board — simulated (device/sim), the host-built C agent with the runtime,
// and the firmware on an emulated Cortex-M4F — through the real serial
// client, and requires the same tokens from each, which are model/llama's.
func TestBoardsAgree(t *testing.T) {
	const name = "tiny-q4_0.gguf"
	data := readModel(t, name)
	want := reference(t, fixtures.Model(t, name), 0)

	simBoard := sim.Start(t, sim.Options{Platform: "esp32s3"})
	simPort, err := serialport.Open(t.Context(), simBoard.Path, 0)
	require.NoError(t, err)
	emuBoard := emu.Start(t, emu.Options{Machine: "mps2-an386"})
	emuPort, err := emuBoard.Open(t.Context())
	require.NoError(t, err)
	boards := []struct {
		kind string
		tr   device.Transport
	}{
		{"simulated", simPort},
		{"host agent", hostAgent(t)},
		{"emulated", emuPort},
	}
	got := map[string][][]uint32{}
	for _, b := range boards {
		d := device.New(b.tr, device.Options{})
		t.Cleanup(func() { d.Close() })
		_, err := d.Hello(t.Context())
		require.NoError(t, err, b.kind)
		_, err = d.LoadModel(t.Context(), bytes.NewReader(data), int64(len(data)), device.LoadOptions{Name: name})
		require.NoError(t, err, b.kind)
		for _, a := range agreement {
			g, err := d.Generate(t.Context(), a.req)
			require.NoError(t, err, "%s: %s", b.kind, a.name)
			got[b.kind] = append(got[b.kind], ids(g.Tokens))
		}
	}
	for kind, toks := range got {
		if diff := cmp.Diff(want, toks); diff != "" {
			t.Errorf("%s board: tokens differ from model/llama's (-reference +board):\n%s", kind, diff)
		}
	}
}
