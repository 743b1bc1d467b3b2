package compare_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/bench/compare"
)

// twoModels is a benchmark file of two models on one board, each after its
// own configuration lines, as a go test run of two sub-benchmarks writes
// it: configuration holds for the results after it until it changes. Each
// model's five results start at its ns/op.
func twoModels(shaA, shaB string, nsA, nsB int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "board: esp32s3-lab-1\nplatform: esp32s3\nfirmware: tinyprof/0.3.0\nmodel-sha256: %s\nsimulated: false\n", shaA)
	for i := range 5 {
		fmt.Fprintf(&b, "BenchmarkGenerate/platform=esp32s3/model=a/quant=f32/tokens=32 1 %d ns/op %d tok/s\n", nsA+i, 1000-i)
	}
	fmt.Fprintf(&b, "model-sha256: %s\n", shaB)
	for i := range 5 {
		fmt.Fprintf(&b, "BenchmarkGenerate/platform=esp32s3/model=b/quant=f32/tokens=32 1 %d ns/op %d tok/s\n", nsB+i, 500-i)
	}
	return b.String()
}

const (
	shaA  = "1ea05d9a378f2acd0c5adad64628c060aa7b34fe5aafb4bbe48802cc24472972"
	shaB  = "77aa05d9a378f2acd0c5adad64628c060aa7b34fe5aafb4bbe48802cc2447297"
	shaB2 = "99bb05d9a378f2acd0c5adad64628c060aa7b34fe5aafb4bbe48802cc2447297"
)

// TestCompareUnlikeConfiguration is the case: model b's weights
// changed between the runs (another model-sha256) and it ran 115% slower.
// Configuration is per benchmark, so model a still compares like with like
// and model b is compared but marked, said so, and refused by a gate.
func TestCompareUnlikeConfiguration(t *testing.T) {
	old := twoModels(shaA, shaB, 1000, 2000)
	new := twoModels(shaA, shaB2, 1000, 4305)
	c, err := compare.Compare(strings.NewReader(old), strings.NewReader(new), "old.txt", "new.txt", compare.Options{})
	require.NoError(t, err)

	unlike := map[string][]compare.Difference{}
	for _, m := range c.Metrics {
		unlike[m.Benchmark+" "+m.Unit] = m.Unlike
	}
	want := map[string][]compare.Difference{
		"Generate/platform=esp32s3/model=a/quant=f32/tokens=32 sec/op": nil,
		"Generate/platform=esp32s3/model=a/quant=f32/tokens=32 tok/s":  nil,
		"Generate/platform=esp32s3/model=b/quant=f32/tokens=32 sec/op": {{Key: "model-sha256", Old: shaB, New: shaB2}},
		"Generate/platform=esp32s3/model=b/quant=f32/tokens=32 tok/s":  {{Key: "model-sha256", Old: shaB, New: shaB2}},
	}
	if diff := cmp.Diff(want, unlike); diff != "" {
		t.Errorf("Unlike (-want +got):\n%s", diff)
	}
	assert.Equal(t, []string{"model-sha256"}, c.ConfigDiffers)

	var table strings.Builder
	require.NoError(t, c.WriteTable(&table))
	t.Log("\n" + table.String())
	assert.Contains(t, table.String(), "not like with like: model-sha256 differs for Generate/platform=esp32s3/model=b/quant=f32/tokens=32: 77aa05d9a378… in old.txt, 99bb05d9a378… in new.txt; their changes are not the code's alone: compare runs with one model file, or, if that is the change under test, say so with --ignore model-sha256")
	assert.Regexp(t, `model=b/.*\+115\.\d\d% \(p=0\.008 n=5\+5\) unlike: model-sha256 differs`, table.String())
	assert.NotRegexp(t, `model=a/.*unlike`, table.String())
	assert.NotContains(t, table.String(), "differs: model-sha256", "said once, as unlike")

	gates, err := compare.ParseGates("time per generation > 2x")
	require.NoError(t, err)
	vs, err := c.Check(gates)
	require.NoError(t, err)
	require.Len(t, vs, 2)
	assert.False(t, vs[0].Refused || vs[0].Tripped, "model a: %s", vs[0])
	assert.True(t, vs[1].Refused, "model b: %s", vs[1])
	assert.False(t, vs[1].Tripped, "a refused verdict is no regression either")
	assert.True(t, compare.Refused(vs))
	assert.False(t, compare.Failed(vs))
	assert.Contains(t, vs[1].String(), "refused, not like with like (model-sha256 77aa05d9a378… → 99bb05d9a378…)")
	assert.Contains(t, vs[1].String(), "--ignore model-sha256")

	// Saying the weights are the change under test compares across them.
	c, err = compare.Compare(strings.NewReader(old), strings.NewReader(new), "old.txt", "new.txt", compare.Options{Ignore: []string{"model-sha256"}})
	require.NoError(t, err)
	vs, err = c.Check(gates)
	require.NoError(t, err)
	assert.False(t, compare.Refused(vs))
	assert.True(t, vs[1].Tripped, "%s", vs[1])
	table.Reset()
	require.NoError(t, c.WriteTable(&table))
	assert.Contains(t, table.String(), "compared across model-sha256, as asked: 77aa05d9a378… in old.txt, 99bb05d9a378… in new.txt")
	assert.NotContains(t, table.String(), "unlike")
}

// TestCompareLikeKeys checks each key that makes a benchmark unlike, and
// that a key one file does not write (an older file) does not.
func TestCompareLikeKeys(t *testing.T) {
	tests := []struct {
		name, extraOld, extraNew string
		unit                     string // the metric to look at
		want                     []string
	}{
		{"same", "", "", "sec/op", nil},
		{"board", "board: esp32s3-lab-1\n", "board: esp32s3-lab-2\n", "sec/op", []string{"board"}},
		{"firmware", "firmware: tinyprof/0.3.0\n", "firmware: tinyprof/0.4.0\n", "sec/op", []string{"firmware"}},
		{"simulated", "simulated: false\n", "simulated: true\n", "sec/op", []string{"simulated"}},
		{"emulated", "emulated: false\n", "emulated: true\n", "sec/op", []string{"emulated"}},
		{"prompt", "prompt: Once upon a time\n", "prompt: Once\n", "sec/op", []string{"prompt"}},
		{"two keys", "board: a\nfirmware: x\n", "board: b\nfirmware: y\n", "sec/op", []string{"board", "firmware"}},
		{"a key only one file writes", "", "emulated: false\n", "sec/op", nil},
		{"power source, a time", "power-source: none\n", "power-source: meter ppk2\n", "sec/op", nil},
		{"power source, power", "power-source: board METRICS\n", "power-source: meter ppk2\n", "W", []string{"power-source"}},
		{"model name only", "model: a\n", "model: a-renamed\n", "sec/op", nil},
		{"host lines", "goos: linux\ncpu: A\npkg: x\n", "goos: darwin\ncpu: B\npkg: y\n", "sec/op", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := func(extra string) string {
				var b strings.Builder
				b.WriteString(extra)
				for i := range 5 {
					fmt.Fprintf(&b, "BenchmarkGenerate/platform=esp32s3-2 1 %d ns/op 0.5 W\n", 100+i)
				}
				return b.String()
			}
			c, err := compare.Compare(strings.NewReader(file(tt.extraOld)), strings.NewReader(file(tt.extraNew)), "old.txt", "new.txt", compare.Options{})
			require.NoError(t, err)
			var got []string
			for _, m := range c.Metrics {
				if m.Unit == tt.unit {
					for _, d := range m.Unlike {
						got = append(got, d.Key)
					}
				}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCompareIgnoreUnknownKey(t *testing.T) {
	_, err := compare.Compare(strings.NewReader(goodFile), strings.NewReader(goodFile), "old.txt", "new.txt", compare.Options{Ignore: []string{"firmwre"}})
	require.ErrorContains(t, err, `cannot ignore "firmwre": the configuration keys that may differ are board, platform, chip, firmware`)
}

// TestCompareNothingInCommon checks the error names the benchmarks of each
// file and, when only sub-name keys differ, the benchstat projection that
// compares across them, ignoring the configuration that differs.
func TestCompareNothingInCommon(t *testing.T) {
	file := func(platform string, n int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "board: sim-%s\nplatform: %s\nsimulated: true\n", platform, platform)
		for i := range 5 {
			for j := range n {
				fmt.Fprintf(&b, "BenchmarkGenerate/platform=%s/model=m%d/quant=f32/tokens=8 1 %d ns/op\n", platform, j, 100+i)
			}
		}
		return b.String()
	}
	tests := []struct {
		name, old, new string
		want           []string
	}{
		{"another platform", file("esp32s3", 1), file("esp32p4", 1), []string{
			"old.txt and new.txt have no benchmark and unit in common: old.txt has Generate/platform=esp32s3/model=m0/quant=f32/tokens=8; new.txt has Generate/platform=esp32p4/model=m0/quant=f32/tokens=8",
			"their names differ in /platform; to compare across it, project with benchstat",
			"benchstat -col /platform -ignore board,platform old.txt new.txt",
		}},
		{"many benchmarks", file("esp32s3", 5), file("esp32p4", 5), []string{
			"old.txt has Generate/platform=esp32s3/model=m0/quant=f32/tokens=8, Generate/platform=esp32s3/model=m1/quant=f32/tokens=8, Generate/platform=esp32s3/model=m2/quant=f32/tokens=8 and 2 more;",
			"benchstat -col /platform -ignore board,platform old.txt new.txt",
		}},
		{"other benchmarks", goodFile, strings.ReplaceAll(goodFile, "BenchmarkGenerate/platform=esp32s3", "BenchmarkLoad"), []string{
			"old.txt has Generate/platform=esp32s3; new.txt has Load: compare outputs of the same benchmarks",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compare.Compare(strings.NewReader(tt.old), strings.NewReader(tt.new), "old.txt", "new.txt", compare.Options{})
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			if !strings.Contains(tt.want[len(tt.want)-1], "benchstat") {
				assert.NotContains(t, err.Error(), "benchstat")
			}
		})
	}
}

// TestCompareSaysOtherDifferences checks a configuration key that does not
// make a benchmark unlike (the model's name, its bytes unchanged) is still
// said, with the benchmark it differs for.
func TestCompareSaysOtherDifferences(t *testing.T) {
	c, err := compare.Compare(strings.NewReader("model: a\n"+goodFile), strings.NewReader("model: a-renamed\n"+goodFile), "old.txt", "new.txt", compare.Options{})
	require.NoError(t, err)
	var table strings.Builder
	require.NoError(t, c.WriteTable(&table))
	assert.Contains(t, table.String(), `differs: model ("a" in old.txt, "a-renamed" in new.txt, for Generate/platform=esp32s3)`)
	assert.NotContains(t, table.String(), "unlike")
}
