package runtime

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/model/llama"
)

// The runtime's result codes (tp_rt.h).
const (
	rtOK          = 0
	rtFormat      = 1
	rtUnsupported = 2
	rtArena       = 3
	rtArg         = 4
)

// check runs "rt-host check" on files with an arena of arena bytes and
// returns each file's load code. The driver reads each file into a buffer
// of exactly its size, so under the sanitizers a read past the end aborts
// it, which fails the test.
func check(tb testing.TB, bin string, arena int, files []string) []int {
	tb.Helper()
	var codes []int
	for len(files) > 0 {
		batch := files[:min(len(files), 200)]
		files = files[len(batch):]
		var stderr bytes.Buffer
		cmd := exec.CommandContext(tb.Context(), bin, append([]string{"check", strconv.Itoa(arena)}, batch...)...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(tb, err, "rt-host check crashed: %s", stderr.Bytes())
		for _, f := range strings.Fields(string(out)) {
			c, err := strconv.Atoi(f)
			require.NoError(tb, err)
			codes = append(codes, c)
		}
	}
	return codes
}

// tinyConfig is the smallest model every format can hold: Q8_0 and Q4_0
// need rows of 32, int8 groups of 32 must divide every tensor.
var tinyConfig = fixtures.Llama2CConfig{
	Llama2CConfig: model.Llama2CConfig{Dim: 32, HiddenDim: 32, Layers: 1, Heads: 2, KVHeads: 1, Vocab: 8, SeqLen: 4, Shared: true},
	GroupSize:     32,
}

// tinyModels returns tinyConfig in every format the runtime reads.
func tinyModels(tb testing.TB) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	for v := range 3 {
		var b bytes.Buffer
		require.NoError(tb, fixtures.WriteLlama2C(&b, tinyConfig, v, 1))
		out[fmt.Sprintf("llama2c-v%d", v)] = b.Bytes()
	}
	g2a32, err := model.GroupwiseType(model.Groupwise{Bits: 2, Group: 32, Asym: true})
	require.NoError(tb, err)
	for _, t := range []model.Type{model.TypeF32, model.TypeQ8_0, model.TypeQ4_0, g2a32} {
		var b bytes.Buffer
		require.NoError(tb, fixtures.WriteGGUF(&b, tinyConfig, fixtures.GGUFOptions{Type: t}, 1))
		out["gguf-"+t.String()] = b.Bytes()
	}
	return out
}

// mutations returns damaged copies of data: every truncation point near
// the header plus a spread through the file, and seeded byte changes in
// the first 2 KiB (headers, metadata, tensor infos).
func mutations(data []byte, seed uint64) (truncated, flipped [][]byte) {
	cuts := map[int]bool{}
	for n := 0; n < min(len(data), 320); n++ {
		cuts[n] = true
	}
	for i := 1; i < 32; i++ {
		cuts[len(data)*i/32] = true
	}
	cuts[len(data)-1] = true
	for n := range cuts {
		if n < len(data) {
			truncated = append(truncated, data[:n])
		}
	}
	r := rand.New(rand.NewPCG(seed, 1))
	for range 150 {
		b := bytes.Clone(data)
		for range 1 + r.IntN(3) {
			i := r.IntN(min(len(b), 2048))
			switch r.IntN(3) {
			case 0:
				b[i] = byte(r.Uint32())
			case 1:
				b[i] ^= 1 << r.IntN(8)
			default:
				b[i] = 0xff
			}
		}
		flipped = append(flipped, b)
	}
	return truncated, flipped
}

func writeAll(tb testing.TB, dir, prefix string, files [][]byte) []string {
	tb.Helper()
	paths := make([]string, len(files))
	for i, b := range files {
		paths[i] = filepath.Join(dir, fmt.Sprintf("%s-%d", prefix, i))
		require.NoError(tb, os.WriteFile(paths[i], b, 0o644))
	}
	return paths
}

// TestMalformedFilesRejected feeds the sanitizer build truncated and
// corrupted copies of every format: each truncation must be refused, as
// the Go reference refuses it, and no input may crash or over-read.
func TestMalformedFilesRejected(t *testing.T) {
	bin := buildDriver(t, "-O1", true)
	dir := t.TempDir()
	for name, data := range tinyModels(t) {
		t.Run(name, func(t *testing.T) {
			truncated, flipped := mutations(data, uint64(len(data)))
			tp := writeAll(t, dir, name+"-cut", truncated)
			for i, c := range check(t, bin, 1<<20, tp) {
				assert.Contains(t, []int{rtFormat, rtUnsupported}, c, "%d-byte truncation of %d bytes was accepted", len(truncated[i]), len(data))
				_, err := llama.Load(bytes.NewReader(truncated[i]), int64(len(truncated[i])))
				assert.Error(t, err, "Go accepted a %d-byte truncation", len(truncated[i]))
			}
			fp := writeAll(t, dir, name+"-flip", flipped)
			accepted := 0
			for i, c := range check(t, bin, 1<<20, fp) {
				assert.Contains(t, []int{rtOK, rtFormat, rtUnsupported, rtArena}, c)
				if c == rtOK {
					accepted++
				}
				llama.Load(bytes.NewReader(flipped[i]), int64(len(flipped[i]))) // must not panic
			}
			t.Logf("%d truncations refused; %d of %d corrupted copies still loaded (weights or unused bytes hit)", len(truncated), accepted, len(flipped))
		})
	}
}

// TestHostileHeaders checks headers built to overflow sizes, counts and
// lengths.
func TestHostileHeaders(t *testing.T) {
	bin := buildDriver(t, "-O1", true)
	le := binary.LittleEndian
	l2c := func(f ...int32) []byte {
		b := make([]byte, 28, 4096)
		for i, v := range f {
			le.PutUint32(b[4*i:], uint32(v))
		}
		return b
	}
	gguf := func(version uint32, nt, nkv uint64, rest ...byte) []byte {
		b := []byte("GGUF")
		b = le.AppendUint32(b, version)
		b = le.AppendUint64(b, nt)
		b = le.AppendUint64(b, nkv)
		return append(b, rest...)
	}
	kvString := func(key string, n uint64) []byte {
		b := le.AppendUint64(nil, uint64(len(key)))
		b = append(b, key...)
		b = le.AppendUint32(b, 8)
		return le.AppendUint64(b, n)
	}
	kvArray := func(key string, et uint32, n uint64) []byte {
		b := le.AppendUint64(nil, uint64(len(key)))
		b = append(b, key...)
		b = le.AppendUint32(b, 9)
		b = le.AppendUint32(b, et)
		return le.AppendUint64(b, n)
	}
	versioned := func(version int32, group int32) []byte {
		b := make([]byte, 256)
		le.PutUint32(b, 0x616b3432)
		le.PutUint32(b[4:], uint32(version))
		for i, v := range []int32{64, 172, 5, 8, 4, 512, 512} {
			le.PutUint32(b[8+4*i:], uint32(v))
		}
		le.PutUint32(b[37:], uint32(group))
		return b
	}
	tests := []struct {
		name string
		data []byte
		want int
	}{
		{"empty", nil, rtFormat},
		{"llama2c huge dims", l2c(1<<30, 1<<30, 1<<30, 1, 1, 1<<30, 1<<30), rtFormat},
		{"llama2c max int", l2c(0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff), rtFormat},
		{"llama2c every field at its 2^20 bound", l2c(1<<20, 1<<20, 1<<20, 1<<19, 1<<19, 1<<20, 1<<20), rtFormat},
		{"llama2c negative layers", l2c(64, 172, -1, 8, 4, 512, 512), rtFormat},
		{"llama2c vocab INT_MIN", l2c(64, 172, 5, 8, 4, -0x80000000, 512), rtFormat},
		{"llama2c heads not dividing", l2c(64, 172, 5, 7, 4, 512, 512), rtFormat},
		{"llama2c kv heads above heads", l2c(64, 172, 5, 8, 16, 512, 512), rtFormat},
		{"llama2c odd head size", l2c(63, 172, 5, 9, 3, 512, 512), rtUnsupported},
		{"llama2c header only", l2c(64, 172, 5, 8, 4, 512, 512), rtFormat},
		{"v2 group 0", versioned(2, 0), rtFormat},
		{"v2 group -64", versioned(2, -64), rtFormat},
		{"v2 group not dividing", versioned(2, 48), rtFormat},
		{"version 3 export", versioned(3, 64), rtUnsupported},
		{"v1 header only", versioned(1, 0), rtFormat},
		{"gguf short", []byte("GGUF\x03\x00"), rtFormat},
		{"gguf v1", gguf(1, 0, 0), rtUnsupported},
		{"gguf huge counts", gguf(3, 1<<63, 1<<63), rtFormat},
		{"gguf key length 2^64-1", gguf(3, 0, 1, le.AppendUint64(nil, ^uint64(0))...), rtFormat},
		{"gguf string length 2^64-1", gguf(3, 0, 1, kvString("general.architecture", ^uint64(0))...), rtFormat},
		{"gguf string array 2^62", gguf(3, 0, 1, kvArray("tokenizer.ggml.tokens", 8, 1<<62)...), rtFormat},
		{"gguf u64 array 2^61", gguf(3, 0, 1, kvArray("a", 10, 1<<61)...), rtFormat},
		{"gguf nested array", gguf(3, 0, 1, kvArray("a", 9, 1)...), rtFormat},
		{"gguf bad value type", gguf(3, 0, 1, append(le.AppendUint64(nil, 1), 'a', 99, 0, 0, 0)...), rtFormat},
		{"gguf no metadata", gguf(3, 0, 0), rtUnsupported},
	}
	dir := t.TempDir()
	var paths []string
	for i, tc := range tests {
		p := filepath.Join(dir, strconv.Itoa(i))
		require.NoError(t, os.WriteFile(p, tc.data, 0o644))
		paths = append(paths, p)
	}
	codes := check(t, bin, 1<<20, paths)
	require.Len(t, codes, len(tests))
	for i, tc := range tests {
		assert.Equal(t, tc.want, codes[i], tc.name)
		_, err := llama.Load(bytes.NewReader(tc.data), int64(len(tc.data)))
		assert.Error(t, err, "Go accepted %s", tc.name)
		if tc.want == rtUnsupported && err != nil && !errors.Is(err, llama.ErrUnsupported) && !errors.Is(err, model.ErrFormat) {
			t.Errorf("%s: Go error %v wraps neither ErrUnsupported nor ErrFormat", tc.name, err)
		}
	}
}

// FuzzLoad runs the sanitizer build of the loader (and, when it accepts,
// one forward step) on arbitrary bytes, seeded with every format of a tiny
// model. The C parser is reached through the driver program, so no cgo.
func FuzzLoad(f *testing.F) {
	bin := buildDriver(f, "-O1", true)
	for _, data := range tinyModels(f) {
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "in")
		require.NoError(t, os.WriteFile(p, data, 0o644))
		codes := check(t, bin, 1<<20, []string{p})
		require.Len(t, codes, 1)
		assert.Contains(t, []int{rtOK, rtFormat, rtUnsupported, rtArena}, codes[0])
	})
}
