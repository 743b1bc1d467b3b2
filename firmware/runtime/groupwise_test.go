package runtime

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/model/llama"
)

// TestGroupwiseBuildOptions checks the compile-time options of the
// group-wise kernels: the group-wise-only build (no llama2.c, no Q8_0 or
// Q4_0) runs a group-wise model exactly as Go does and refuses Q4_0, and
// a build without them refuses group-wise files as unsupported.
func TestGroupwiseBuildOptions(t *testing.T) {
	only := build(t, "rt-host-gw-only", false, append([]string{"host/main.c"}, runtimeSrcs...), "-O2", "-DTP_RT_NO_LLAMA2C", "-DTP_RT_NO_GGML_QUANTS")
	without := build(t, "rt-host-no-gw", false, append([]string{"host/main.c"}, runtimeSrcs...), "-O2", "-DTP_RT_NO_GROUPWISE")
	g := fixtures.Model(t, "stories260k-g2s64.gguf")
	q := request{file: g, arena: arenaBig, steps: 8, prompt: []byte("Once"), logits: true}
	wantToks, wantLogits := reference(t, q)
	got := drive(t, only, q)
	require.Equal(t, rtOK, got.load)
	if d := cmp.Diff(wantToks, got.tokens); d != "" {
		t.Errorf("tokens (-want +got):\n%s", d)
	}
	for i := range wantLogits {
		if d := logitDiff(wantLogits[i], got.logits[i]); d != "" {
			t.Fatalf("step %d: %s", i, d)
		}
	}
	assert.Equal(t, []int{rtUnsupported, rtOK}, check(t, only, arenaBig, []string{fixtures.Model(t, "stories260k-q4_0.gguf"), g}))
	assert.Equal(t, []int{rtUnsupported, rtOK}, check(t, without, arenaBig, []string{g, fixtures.Model(t, "stories260k-q4_0.gguf")}))
}

// TestGroupwiseBadTypeIDs changes the type id of a group-wise tensor to
// ids that carry the group-wise tag but no valid format (3 bits, a group
// of 16 or 512, an asymmetry field of 2, a stray bit): C and Go both
// refuse every one.
func TestGroupwiseBadTypeIDs(t *testing.T) {
	bin := buildDriver(t, "-O1", true)
	data, err := os.ReadFile(fixtures.Model(t, "stories260k-g2s64.gguf"))
	require.NoError(t, err)
	id, err := model.GroupwiseType(model.Groupwise{Bits: 2, Group: 64})
	require.NoError(t, err)
	var pat [4]byte
	binary.LittleEndian.PutUint32(pat[:], uint32(id))
	at := bytes.Index(data, pat[:])
	require.Positive(t, at, "the fixture holds a G2S64 tensor id")
	tag := uint32(model.GroupwiseTag)
	dir := t.TempDir()
	for _, bad := range []uint32{tag | 3<<8 | 6, tag | 2<<8 | 4, tag | 2<<8 | 9, tag | 2<<12 | 2<<8 | 6, tag | 0x20 | 2<<8 | 6, tag | 1<<8 | 5} {
		b := bytes.Clone(data)
		binary.LittleEndian.PutUint32(b[at:], bad)
		p := filepath.Join(dir, "bad.gguf")
		require.NoError(t, os.WriteFile(p, b, 0o644))
		assert.Equal(t, []int{rtUnsupported}, check(t, bin, arenaBig, []string{p}), "id %#x", bad)
		_, err := llama.Load(bytes.NewReader(b), int64(len(b)))
		assert.Error(t, err, "Go accepted id %#x", bad)
	}
}
