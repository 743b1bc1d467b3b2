package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/plan"
	"github.com/tinyprof/tinyprof/platform"
)

// exitNoFit is the exit status of analyze-model --platform P, and of a
// benchmark on a simulated board, when the model does not fit: a verdict,
// not a failure of the command.
const exitNoFit = 5

// placeFlags are the placement and clock flags that analyze-model,
// benchmark and simulate share, so that the three configure one placement
// model (model.Fit) the same way.
type placeFlags struct {
	runtime   string
	weightsIn string
	ctx       int
	cpuMHz    int
	cores     int
	// kvIn pins the KV cache; no flag sets it, a plan (benchmark --plan) does.
	kvIn platform.Region
}

func (f *placeFlags) flags(c *cobra.Command) {
	c.Flags().StringVar(&f.weightsIn, "weights-in", "", "store the model file and read its weights in sram, psram or flash (default: the first of PSRAM, flash read in place, SRAM that holds it)")
	c.Flags().StringVar(&f.runtime, "runtime", "tinyprof", "whose buffers to count: tinyprof (the agent's runtime, which a simulated board runs; no tokenizer on the device) or llama2c (run.c/runq.c, as esp32-llm builds them: tokenizer in RAM, runq's float32 embedding table)")
	c.Flags().IntVar(&f.ctx, "ctx", 0, "context length in tokens to plan for: sizes the KV cache (default: the model's)")
	c.Flags().IntVar(&f.cpuMHz, "cpu-mhz", 0, "run the CPU at this clock, up to the chip's maximum (default: the catalogue's)")
	c.Flags().IntVar(&f.cores, "cores", 0, "use this many application cores, up to the chip's (default: all)")
}

// set reports whether any of the flags was given.
func (f *placeFlags) set() bool {
	return f.weightsIn != "" || f.ctx != 0 || f.cpuMHz != 0 || f.cores != 0 || f.runtime != string(model.RuntimeTinyprof)
}

// clockSet reports whether --cpu-mhz or --cores was given.
func (f *placeFlags) clockSet() bool { return f.cpuMHz != 0 || f.cores != 0 }

// adopt takes the plan's placement and clock: where the weights and the
// KV cache live, the context, cores and clock. A flag given beside the
// plan must agree with it.
func (f *placeFlags) adopt(pf *plan.File) error {
	for _, c := range []struct {
		name       string
		flag, plan string
	}{
		{"--weights-in", f.weightsIn, string(pf.WeightsIn)},
		{"--ctx", itoa0(f.ctx), itoa0(pf.Context)},
		{"--cpu-mhz", itoa0(f.cpuMHz), itoa0(pf.CPUMHz)},
		{"--cores", itoa0(f.cores), itoa0(pf.Cores)},
	} {
		if c.flag != "" && c.plan != "" && c.flag != c.plan {
			return usageError{fmt.Errorf("%s %s contradicts the plan's %s: drop %s, or plan again with it", c.name, c.flag, c.plan, c.name)}
		}
	}
	f.weightsIn, f.kvIn = string(pf.WeightsIn), pf.KVIn
	f.ctx, f.cpuMHz, f.cores = pf.Context, pf.CPUMHz, pf.Cores
	return nil
}

// itoa0 prints n, or "" for 0 (not given).
func itoa0(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// fitConfig returns the placement configuration the flags ask for.
func (f *placeFlags) fitConfig() (model.FitConfig, error) {
	var cfg model.FitConfig
	switch platform.Region(f.weightsIn) {
	case "", platform.SRAM, platform.PSRAM, platform.Flash:
		cfg.Weights = platform.Region(f.weightsIn)
	default:
		return cfg, usageError{fmt.Errorf("--weights-in must be sram, psram or flash, not %q", f.weightsIn)}
	}
	switch model.Runtime(f.runtime) {
	case model.RuntimeTinyprof, model.RuntimeLlama2C:
		cfg.Runtime = model.Runtime(f.runtime)
	default:
		return cfg, usageError{fmt.Errorf("--runtime must be tinyprof or llama2c, not %q", f.runtime)}
	}
	if f.ctx < 0 {
		return cfg, usageError{fmt.Errorf("--ctx must be positive (or 0 for the model's own), got %d", f.ctx)}
	}
	cfg.Context = f.ctx
	cfg.KVCache = f.kvIn
	return cfg, nil
}

// platform returns p at the flags' clock and cores, refusing what the chip
// cannot do.
func (f *placeFlags) platform(p platform.Platform) (platform.Platform, error) {
	q, err := p.WithClock(f.cpuMHz, f.cores)
	if err != nil {
		return p, usageError{fmt.Errorf("--cpu-mhz/--cores: %w", err)}
	}
	return q, nil
}
