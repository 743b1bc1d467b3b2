package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Nonsense counts, an over-long prompt and files that are no model are
// usage errors (exit 2) found before any board is opened, let alone a
// model uploaded: --device names no port, so reaching the board would
// fail differently.
func TestBenchmarkRejectsBeforeUpload(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.bin")
	f, err := os.Create(huge)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(5<<30)) // sparse: costs no disk
	require.NoError(t, f.Close())
	empty := filepath.Join(dir, "empty.bin")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))

	const noBoard = "/dev/tinyprof-no-such-board"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"tokens 0", []string{"--tokens", "0"}, "--tokens must be between 1 and 65535, got 0"},
		{"tokens over", []string{"--tokens", "70000"}, "--tokens must be between 1 and 65535, got 70000"},
		{"runs 0", []string{"--runs", "0"}, "--runs must be at least 1, got 0"},
		{"warmup -2", []string{"--warmup", "-2"}, "--warmup must be 0 (none) or more, got -2"},
		{"long prompt", []string{"--prompt", strings.Repeat("x", 10<<10)}, "--prompt is 10240 bytes; the board takes at most 255"},
		{"empty prompt", []string{"--prompt", ""}, "--prompt is empty"},
		{"endless model", []string{"--model", "/dev/zero"}, "--model /dev/zero is not a regular file"},
		{"directory model", []string{"--model", dir}, "is not a regular file"},
		{"empty model", []string{"--model", empty}, "is empty"},
		{"5 GB model", []string{"--model", huge}, "is 5368709120 bytes: over the protocol's 4294967295-byte limit"},
		{"endless baseline", []string{"--baseline", "/dev/zero"}, "the baseline /dev/zero holds more, over the"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"benchmark", "--device", noBoard}, tt.args...), &out, &errb)
			require.Contains(t, errb.String(), tt.want)
			if !strings.Contains(tt.name, "baseline") {
				require.Equal(t, 2, code, "a usage error: %s", errb.String())
			} else {
				require.NotZero(t, code)
			}
			require.NotContains(t, errb.String(), noBoard, "refused before opening the board")
		})
	}
}

// A model larger than all of the board's memory is refused once the
// board says how much it has, before the upload reads the file.
func TestBenchmarkModelOverBoardMemory(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.Create(big)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(1<<30))
	require.NoError(t, f.Close())
	var out, errb bytes.Buffer
	code := run([]string{"benchmark", "--sim", "esp32s3", "--model", big}, &out, &errb)
	require.Equal(t, 2, code, errb.String())
	require.Contains(t, errb.String(), "more than all of the esp32s3 board's memory")
}

// --warmup 0 means no warm-up, and --tokens and --runs are honoured.
func TestBenchmarkHonoursCounts(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"benchmark", "--sim", "esp32s3", "--warmup", "0", "--runs", "2", "--tokens", "3", "--json"}, &out, &errb)
	require.Equal(t, 0, code, errb.String())
	var rep struct {
		Config struct{ Warmup, Runs, Tokens int } `json:"config"`
		Runs   []json.RawMessage                  `json:"runs"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	require.Equal(t, 0, rep.Config.Warmup)
	require.Equal(t, 2, rep.Config.Runs)
	require.Equal(t, 3, rep.Config.Tokens)
	require.Len(t, rep.Runs, 2, "measured runs only: no warm-up among them")
}
