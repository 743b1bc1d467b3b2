// Package plan is the planner: for a model and a board it tries every
// weight format the cost model prices, every memory the weights can live
// in, context lengths, core counts and clocks; checks each with model.Fit,
// the placement analyze-model and the simulated board use; and ranks the
// ones that fit by the tokens per second package platform/cost predicts,
// saying why the best of the others were rejected. Every figure is
// modelled, not measured.
package plan

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/platform/cost"
	"github.com/tinyprof/tinyprof/power/powermodel"
)

// Options constrains a plan. Start from DefaultOptions: its zero value
// forbids PSRAM and the second core, as the runbook's use_psram=False and
// use_dual_core=False would.
type Options struct {
	// UsePSRAM lets weights and the KV cache live in PSRAM.
	UsePSRAM bool
	// DualCore lets the matrix products use a second core where the board
	// has one.
	DualCore bool
	// CPUMHz fixes the clock; 0 tries the board's maximum and half of it.
	CPUMHz int
	// SIMD prices a firmware whose matrix products use the vendor's SIMD
	// dot product (ESP-DSP on the ESP32-S3, NEON); false prices tinyprof's
	// runtime, which has none, as the simulated board does.
	SIMD bool
	// Context fixes the context length; 0 tries the model's own and, when
	// that does not fit, the largest power of two that does.
	Context int
	// MinTokPerSec and MaxMJPerToken reject configurations slower, or
	// hungrier, than these; 0 means no limit. MaxMJPerToken rejects every
	// configuration on a board without a power model.
	MinTokPerSec  float64
	MaxMJPerToken float64
	// Formats limits the formats tried (cost.Formats names); nil tries all.
	Formats []string
	// PromptTokens is the prompt length TTFT is priced at. Default 5, the
	// simulated board's count for "Once upon a time".
	PromptTokens int
	// Tokens is the generation the decode rate is the mean over, from the
	// end of the prompt: attention grows with the position, so a longer
	// generation is slower per token. Default 64, benchmark's default;
	// it is cut at the context's end.
	Tokens int
	// Rejected is how many of the best rejected configurations the plan
	// keeps with their reasons. Default 5.
	Rejected int
}

// DefaultOptions lets the planner use everything the board has.
func DefaultOptions() Options { return Options{UsePSRAM: true, DualCore: true} }

// Config is one configuration the planner tried.
type Config struct {
	Format    string          `json:"format"`
	WeightsIn platform.Region `json:"weights_in"`
	KVIn      platform.Region `json:"kv_in"`
	Context   int             `json:"context"`
	Cores     int             `json:"cores"`
	CPUMHz    int             `json:"cpu_mhz"`
}

// String is a short label: "q4_0 weights=psram kv=sram ctx=256 cores=2 240MHz".
func (c Config) String() string {
	return fmt.Sprintf("%s weights=%s kv=%s ctx=%d cores=%d %dMHz", c.Format, c.WeightsIn, c.KVIn, c.Context, c.Cores, c.CPUMHz)
}

// Headroom is the free memory of one region in a configuration.
type Headroom struct {
	Region   platform.Region `json:"region"`
	Capacity int64           `json:"capacity"`
	Free     int64           `json:"free"`
}

// Candidate is a configuration with its fit and prediction.
type Candidate struct {
	Config
	WeightBytes int64 `json:"weight_bytes"`
	// FileBytes is the size of the file --apply writes: the weights and
	// an upper bound on its header (see asFormat).
	FileBytes int64      `json:"file_bytes"`
	Fits      bool       `json:"fits"`
	Verdict   string     `json:"verdict"`
	Headroom  []Headroom `json:"headroom,omitempty"`
	// Prediction is the cost model's; zero when the configuration does
	// not fit.
	Prediction cost.Prediction `json:"prediction"`
	// MJPerToken is the modelled energy per decoded token, 0 when the
	// board has no power model (HasEnergy false).
	MJPerToken float64 `json:"mj_per_token,omitempty"`
	HasEnergy  bool    `json:"has_energy"`
	// Writable reports that plan --apply can produce the format.
	Writable bool `json:"writable"`
	// Rejected says why the configuration is not in the ranking; "" if it is.
	Rejected string `json:"rejected,omitempty"`
}

// Plan is the planner's answer.
type Plan struct {
	Model    string `json:"model"`
	Platform string `json:"platform"`
	// PromptTokens and Tokens are the generation the rates are for.
	PromptTokens int `json:"prompt_tokens"`
	Tokens       int `json:"tokens"`
	// Ranked are the configurations that fit and meet the limits, fastest
	// first.
	Ranked []Candidate `json:"ranked"`
	// Rejected are the fastest of the others, with their reasons.
	Rejected []Candidate `json:"rejected"`
	// Tried counts every configuration considered.
	Tried int `json:"tried"`
	// Modelled is always true: the figures come from the cost model.
	Modelled bool `json:"modelled"`
}

// ErrNothingFits is returned, with the plan, when no configuration fits
// and meets the limits; Plan.Rejected says why.
var ErrNothingFits = errors.New("no configuration fits and meets the limits")

// Best returns the fastest configuration, or false if there is none.
func (p *Plan) Best() (Candidate, bool) {
	if len(p.Ranked) == 0 {
		return Candidate{}, false
	}
	return p.Ranked[0], true
}

// Optimize plans info on p. It returns the plan, and ErrNothingFits with
// it when the ranking is empty. It costs a model.Fit and a prediction per
// configuration, a few hundred in all: milliseconds.
func Optimize(info *model.Info, p platform.Platform, opts Options) (*Plan, error) {
	if info == nil || info.Layers <= 0 {
		return nil, fmt.Errorf("plan: the model has no layers; analyze a model file first")
	}
	if p.Emulated || p.CPI <= 0 {
		return nil, fmt.Errorf("plan: %s has no cost model (an emulated machine runs the firmware itself): benchmark --emulate %s measures it", p.Name, p.Name)
	}
	if opts.CPUMHz < 0 || opts.CPUMHz > p.CPUMHz {
		return nil, fmt.Errorf("plan: --cpu-mhz %d: %s runs at 1 to %d MHz", opts.CPUMHz, p.Name, p.CPUMHz)
	}
	if opts.Context < 0 {
		return nil, fmt.Errorf("plan: context %d is negative", opts.Context)
	}
	if opts.PromptTokens <= 0 {
		opts.PromptTokens = 5
	}
	if opts.Tokens <= 0 {
		opts.Tokens = 64
	}
	if opts.Rejected <= 0 {
		opts.Rejected = 5
	}
	formats, err := pickFormats(opts.Formats)
	if err != nil {
		return nil, err
	}
	pm, perr := powermodel.Board(p)
	pl := &Plan{Model: modelName(info), Platform: p.Name, PromptTokens: opts.PromptTokens, Tokens: opts.Tokens, Modelled: true}
	var all []Candidate
	for _, f := range formats {
		fi, ferr := asFormat(info, f)
		for _, wr := range weightRegions(p, opts) {
			for _, ctx := range contexts(info, fi, p, f, wr, opts) {
				for _, cores := range coreCounts(p, opts) {
					for _, mhz := range clocks(p, opts) {
						c := Candidate{Config: Config{Format: f.Name, WeightsIn: wr, Context: ctx, Cores: cores, CPUMHz: mhz}, Writable: f.Writable}
						if ferr != nil {
							c.Rejected, c.Verdict = ferr.Error(), ferr.Error()
							all = append(all, c)
							continue
						}
						c.WeightBytes, c.FileBytes = fi.WeightBytes, fi.FileSize
						evaluate(&c, fi, p, f, opts, pm, perr == nil)
						all = append(all, c)
					}
				}
			}
		}
	}
	pl.Tried = len(all)
	pl.Ranked, pl.Rejected = rank(all, opts.Rejected)
	if len(pl.Ranked) == 0 {
		return pl, ErrNothingFits
	}
	return pl, nil
}

// rank sorts the candidates fastest first and splits them into the ranked
// and the first keep of the rejected.
func rank(all []Candidate, keep int) (ranked, rejected []Candidate) {
	// Fastest first; ties to the larger context, then fewer cores and the
	// lower clock (the cheaper configuration), then the name.
	slices.SortStableFunc(all, func(a, b Candidate) int {
		switch {
		case a.Prediction.TokPerSec != b.Prediction.TokPerSec:
			if a.Prediction.TokPerSec > b.Prediction.TokPerSec {
				return -1
			}
			return 1
		case a.Context != b.Context:
			return b.Context - a.Context
		case a.Cores != b.Cores:
			return a.Cores - b.Cores
		case a.CPUMHz != b.CPUMHz:
			return a.CPUMHz - b.CPUMHz
		}
		return strings.Compare(a.Config.String(), b.Config.String())
	})
	// The rejected are listed once per format, placement and context, the
	// fastest first: the clock and core variants of one reason add nothing.
	seen := map[string]bool{}
	for _, c := range all {
		if c.Rejected == "" {
			ranked = append(ranked, c)
			continue
		}
		key := fmt.Sprintf("%s/%s/%d", c.Format, c.WeightsIn, c.Context)
		if c.WeightBytes == 0 {
			key = c.Format // the format itself was refused, wherever it would live
		}
		if len(rejected) < keep && !seen[key] {
			seen[key] = true
			rejected = append(rejected, c)
		}
	}
	return ranked, rejected
}

// evaluate fits and prices c.
func evaluate(c *Candidate, fi *model.Info, p platform.Platform, f cost.Format, opts Options, pm powermodel.Model, hasPower bool) {
	fc := model.FitConfig{Context: c.Context, Weights: c.WeightsIn}
	if !opts.UsePSRAM {
		fc.KVCache, fc.Scratch = platform.SRAM, platform.SRAM
	}
	rep, err := model.Fit(fi, p, fc)
	if rep != nil {
		c.Verdict = rep.Verdict
		for _, r := range rep.Regions {
			c.Headroom = append(c.Headroom, Headroom{Region: r.Region, Capacity: r.Capacity, Free: r.Capacity - r.Used})
		}
	}
	if err != nil {
		c.Rejected = "does not fit: " + err.Error()
		// Price it as asked anyway, so that the rejected sort by what
		// they would have given.
		cfg := cost.Config{Platform: p, Shape: cost.ShapeOf(fi), Format: f, Parameters: fi.Parameters, F32Weights: cost.F32Weights(fi, f),
			WeightBytes: map[platform.Region]int64{c.WeightsIn: fi.WeightBytes}, KVIn: platform.SRAM, MHz: c.CPUMHz, Cores: c.Cores, SIMD: opts.SIMD}
		prompt, end := decodeSpan(opts, c.Context)
		if pr, perr := cost.Predict(cfg, prompt, end); perr == nil {
			c.Prediction = pr
		}
		return
	}
	c.Fits = true
	weights := map[platform.Region]int64{}
	for _, it := range rep.Items {
		switch {
		case it.Name == "KV cache":
			c.KVIn = it.Region
		case isWeights(it.Name):
			weights[it.Region] += it.Bytes
		}
	}
	cfg := cost.Config{Platform: p, Shape: cost.ShapeOf(fi), Format: f, Parameters: fi.Parameters, F32Weights: cost.F32Weights(fi, f),
		WeightBytes: weights, KVIn: c.KVIn, MHz: c.CPUMHz, Cores: c.Cores, SIMD: opts.SIMD}
	prompt, end := decodeSpan(opts, c.Context)
	pr, err := cost.Predict(cfg, prompt, end)
	if err != nil {
		c.Rejected = "cannot price: " + err.Error()
		return
	}
	c.Prediction = pr
	if hasPower {
		w := pm.Power(powermodel.Activity{Cores: c.Cores, MHz: c.CPUMHz,
			PSRAMBytesPerSec: pr.ReadBytesPerSec[platform.PSRAM], FlashBytesPerSec: pr.ReadBytesPerSec[platform.Flash]})
		c.MJPerToken, c.HasEnergy = float64(w)/pr.TokPerSec*1e3, true
	}
	switch {
	case opts.MinTokPerSec > 0 && pr.TokPerSec < opts.MinTokPerSec:
		c.Rejected = fmt.Sprintf("%.2f tok/s is below --min-tok-s %g", pr.TokPerSec, opts.MinTokPerSec)
	case opts.MaxMJPerToken > 0 && !hasPower:
		c.Rejected = fmt.Sprintf("no power model for %s, so no energy per token to hold to --max-mj-per-token", p.Name)
	case opts.MaxMJPerToken > 0 && c.MJPerToken > opts.MaxMJPerToken:
		c.Rejected = fmt.Sprintf("%.2f mJ/token is above --max-mj-per-token %g", c.MJPerToken, opts.MaxMJPerToken)
	}
}

// decodeSpan is the prompt length and the end of the generation priced.
func decodeSpan(opts Options, ctx int) (prompt, end int) {
	prompt = min(opts.PromptTokens, ctx-1)
	return prompt, min(prompt+opts.Tokens, ctx)
}

// isWeights reports whether a fit item holds weights: the whole-model
// "weights" item, or a per-tensor one; not the KV cache, the run state,
// the tokenizer or a firmware reservation.
func isWeights(name string) bool {
	n := strings.ToLower(name)
	for _, not := range []string{"kv cache", "activation", "tokenizer", "firmware", "reserve", "stack", "heap", "scratch"} {
		if strings.Contains(n, not) {
			return false
		}
	}
	return true
}

func pickFormats(names []string) ([]cost.Format, error) {
	if len(names) == 0 {
		return cost.Formats(), nil
	}
	var out []cost.Format
	for _, n := range names {
		f, err := cost.LookupFormat(n)
		if err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
		out = append(out, f)
	}
	return out, nil
}

// weightRegions are the memories weights may be read from in place.
func weightRegions(p platform.Platform, opts Options) []platform.Region {
	var out []platform.Region
	for _, r := range []platform.Region{platform.SRAM, platform.PSRAM, platform.Flash} {
		switch {
		case p.Capacity(r) <= 0, p.Bandwidth.Of(r) <= 0:
		case r == platform.Flash && !p.XIP:
		case r == platform.PSRAM && !opts.UsePSRAM:
		default:
			out = append(out, r)
		}
	}
	return out
}

// contexts are the context lengths to try: the one asked for, or the
// model's own plus the largest power of two that fits when it does not.
func contexts(info, fi *model.Info, p platform.Platform, f cost.Format, wr platform.Region, opts Options) []int {
	if opts.Context > 0 {
		return []int{opts.Context}
	}
	full := info.Context
	if full <= 0 {
		full = 512
	}
	out := []int{full}
	if fi == nil {
		return out
	}
	fc := model.FitConfig{Context: full, Weights: wr}
	if !opts.UsePSRAM {
		fc.KVCache, fc.Scratch = platform.SRAM, platform.SRAM
	}
	if rep, err := model.Fit(fi, p, fc); err != nil && rep != nil && rep.MaxContext >= 16 {
		c := 1
		for c*2 <= rep.MaxContext {
			c *= 2
		}
		if c < full {
			out = append(out, c)
		}
	}
	return out
}

func coreCounts(p platform.Platform, opts Options) []int {
	if opts.DualCore && p.Cores >= 2 {
		return []int{1, 2}
	}
	return []int{1}
}

func clocks(p platform.Platform, opts Options) []int {
	if opts.CPUMHz > 0 {
		return []int{opts.CPUMHz}
	}
	return []int{p.CPUMHz, p.CPUMHz / 2}
}

func modelName(info *model.Info) string {
	if info.Name != "" {
		return info.Name
	}
	return fmt.Sprintf("%s dim %d, %d layers, %d parameters", info.Format, info.Embedding, info.Layers, info.Parameters)
}
