package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/model/llama"
)

// TestMathMatchesGo checks the C runtime's exp, log, sqrt, sin and cos
// against the Go twin's bit for bit, and its sqrt against IEEE's, on the
// specials, every exponent and the ranges the forward pass uses.
func TestMathMatchesGo(t *testing.T) {
	bin := buildDriver(t, "-O2", false)
	r := rand.New(rand.NewPCG(5, 6))
	in := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, 88, 88.5, -87, -87.5, 1e-5, 10000, 1e9, -1e9,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, math.SmallestNonzeroFloat32}
	for range 20000 {
		in = append(in, math.Float32frombits(r.Uint32()), float32(r.Float64()*200-100), float32(r.Float64()*4096))
	}
	var stdin strings.Builder
	for _, x := range in {
		fmt.Fprintf(&stdin, "%08x\n", math.Float32bits(x))
	}
	cmd := exec.CommandContext(t.Context(), bin, "math")
	cmd.Stdin = strings.NewReader(stdin.String())
	out, err := cmd.Output()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, len(in))
	bad := 0
	for i, x := range in {
		s, c := llama.SinCos(x)
		want := []float32{llama.Exp(x), llama.Log(x), llama.Sqrt(x), s, c}
		f := strings.Fields(lines[i])
		require.Len(t, f, 5)
		for j, name := range []string{"exp", "log", "sqrt", "sin", "cos"} {
			got, err := strconv.ParseUint(f[j], 16, 32)
			require.NoError(t, err)
			wb := math.Float32bits(want[j])
			if want[j] != want[j] { // any NaN: C and Go may differ in the payload only
				if g := math.Float32frombits(uint32(got)); g == g {
					t.Errorf("%s(%g): C %#08x, Go NaN", name, x, got)
				}
				continue
			}
			if uint32(got) != wb && bad < 10 {
				bad++
				t.Errorf("%s(%g = %#08x): C %#08x, Go %#08x", name, x, math.Float32bits(x), got, wb)
			}
		}
		if !(x < 0) && x == x {
			ieee := float32(math.Sqrt(float64(x)))
			require.Equal(t, math.Float32bits(ieee), math.Float32bits(llama.Sqrt(x)), "Sqrt(%g) is not IEEE", x)
		}
	}
}
