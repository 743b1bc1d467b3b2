package plan_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/fixtures"
	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/plan"
)

func info(t *testing.T, c fixtures.Llama2CConfig) *model.Info {
	t.Helper()
	data := fixtures.Llama2C(c, fixtures.Seed)
	i, err := model.AnalyzeReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	return i
}

func lookup(t *testing.T, name string) platform.Platform {
	t.Helper()
	p, err := platform.Lookup(name)
	require.NoError(t, err)
	return p
}

func TestOptimizePrint(t *testing.T) {
	for _, pl := range []string{"esp32s3", "esp32p4", "rp2350", "stm32h7", "imxrt1176"} {
		for _, sh := range []fixtures.Llama2CConfig{fixtures.Stories260K, fixtures.Stories15M} {
			p, err := plan.Optimize(info(t, sh), lookup(t, pl), plan.DefaultOptions())
			t.Logf("%s %v err=%v tried=%d", pl, sh.Dim, err, p.Tried)
			for i, c := range p.Ranked {
				if i > 3 {
					break
				}
				t.Logf("  %s %s %v", c.Config, c.Prediction.Interval(), c.Headroom)
			}
			for _, c := range p.Rejected {
				t.Logf("  X %s %.1f: %s", c.Config, c.Prediction.TokPerSec, c.Rejected)
			}
		}
	}
}
