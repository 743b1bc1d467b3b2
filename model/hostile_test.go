package model_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/model"
)

// TestClaimedCountsDoNotAllocate: a small sparse file whose header claims
// millions of metadata entries and tensors must fail on its first entry
// without first allocating tables for every claimed one.
func TestClaimedCountsDoNotAllocate(t *testing.T) {
	for _, tt := range []struct {
		name             string
		tensors, entries uint64
	}{
		{"metadata", 0, 19 << 20},
		{"tensors", 10 << 20, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "claims.gguf")
			f, err := os.Create(path)
			require.NoError(t, err)
			hdr := []byte("GGUF")
			hdr = binary.LittleEndian.AppendUint32(hdr, 3)
			hdr = binary.LittleEndian.AppendUint64(hdr, tt.tensors)
			hdr = binary.LittleEndian.AppendUint64(hdr, tt.entries)
			_, err = f.Write(hdr)
			require.NoError(t, err)
			require.NoError(t, f.Truncate(256<<20)) // sparse: no disk, but room for the claims
			require.NoError(t, f.Close())

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err = model.Analyze(path)
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			assert.ErrorIs(t, err, model.ErrFormat)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(32<<20), "bytes allocated for a file that fails on its first entry")
		})
	}
}
