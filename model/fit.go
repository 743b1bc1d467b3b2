package model

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tinyprof/tinyprof/platform"
)

// FitConfig is the runtime configuration Fit checks a model against. The
// zero value means: the model's full context, a float32 KV cache,
// automatic placement, the platform's firmware reservation.
type FitConfig struct {
	// Context is the context length in tokens; 0 means Info.Context.
	Context int
	// Runtime is the inference code whose buffers are counted. Default:
	// RuntimeTinyprof, which the simulated board runs.
	Runtime Runtime
	// KVBytesPerElem is the size of one KV cache element: 4 for float32
	// (both runtimes), 2 for f16, 1 for int8 (what-ifs for RuntimeLlama2C;
	// tinyprof's runtime keeps float32). 0 means 4.
	KVBytesPerElem int
	// Weights is where the model file is stored and read from; empty means
	// the first of PSRAM, flash read in place (XIP) and SRAM that holds it.
	Weights platform.Region
	// KVCache, Scratch (the activations) and Tokenizer pin a buffer to
	// SRAM or PSRAM; empty means SRAM when it fits, else PSRAM.
	KVCache, Scratch, Tokenizer platform.Region
	// Place pins single items by name, over the fields above: a tensor
	// group ("token embedding", LayerItem(3), "classifier", "other
	// tensors") pinned to a region other than the file's is copied there
	// at load, and the forward pass reads the copy; a buffer
	// ("activations", "token embedding f32 copy", "tokenizer", "KV cache")
	// is allocated there.
	Place map[string]platform.Region
	// Reserve is memory kept back per region on top of the firmware's own
	// (platform.FirmwareReserve): heap fragmentation, other tasks.
	Reserve map[platform.Region]int64
	// NoFirmwareReserve leaves out the platform's firmware reservation.
	NoFirmwareReserve bool
}

// withDefaults fills the zero fields that have a default.
func (c FitConfig) withDefaults(info *Info) FitConfig {
	if c.Context == 0 {
		c.Context = info.Context
	}
	if c.KVBytesPerElem == 0 {
		c.KVBytesPerElem = 4
	}
	if c.Runtime == "" {
		c.Runtime = RuntimeTinyprof
	}
	return c
}

// Item is one thing that needs memory.
type Item struct {
	// Name is a tensor group ("token embedding", "layer 0", "classifier",
	// "other tensors"), "file header", a group's stored bytes ("layer 0
	// (stored)"), or a buffer ("KV cache", "activations", "token
	// embedding f32 copy", "tokenizer").
	Name   string          `json:"name"`
	Kind   ItemKind        `json:"kind"`
	Bytes  int64           `json:"bytes"`
	Region platform.Region `json:"region"` // where Fit placed it; empty if nowhere
	// Tensors lists the tensors of a tensor group.
	Tensors []string `json:"tensors,omitempty"`
}

// RegionUse is the use of one memory region.
type RegionUse struct {
	Region platform.Region `json:"region"`
	// Size is the region's size on the platform, Reserved what the
	// firmware (and FitConfig.Reserve) keeps of it, Capacity the rest.
	Size     int64 `json:"size"`
	Reserved int64 `json:"reserved"`
	Capacity int64 `json:"capacity"`
	Used     int64 `json:"used"`
}

// FitReport is the placement of a model on a platform. (It cannot be
// called Fit: that is the function.)
type FitReport struct {
	Platform string `json:"platform"`
	Context  int    `json:"context"`
	// Runtime and KVBytesPerElem are the runtime and the KV cache's
	// element size the report assumed.
	Runtime        Runtime     `json:"runtime"`
	KVBytesPerElem int         `json:"kv_bytes_per_elem"`
	Items          []Item      `json:"items"`
	Regions        []RegionUse `json:"regions"`
	// Reservations are the firmware's, as platform.FirmwareReserve gives them.
	Reservations []platform.Reservation `json:"reservations"`
	// Fits reports whether every item has a region.
	Fits bool `json:"fits"`
	// Verdict is a one-line summary: "fits" or what does not fit and why.
	Verdict string `json:"verdict"`
	// MaxContext is the largest context length (up to the model's own) at
	// which the model fits with this configuration; 0 if none does.
	MaxContext int `json:"max_context"`
}

// Bytes returns the bytes of items of kind k placed in region r; an empty
// r counts every region, an empty k every kind.
func (f *FitReport) Bytes(k ItemKind, r platform.Region) int64 {
	var n int64
	for _, it := range f.Items {
		if (k == "" || it.Kind == k) && (r == "" || it.Region == r) {
			n += it.Bytes
		}
	}
	return n
}

// Region returns where the item called name went, "" if nowhere or if
// there is no such item.
func (f *FitReport) Region(name string) platform.Region {
	for _, it := range f.Items {
		if it.Name == name {
			return it.Region
		}
	}
	return ""
}

// FileRegion returns the region the model file is stored in; "" when it
// fits nowhere.
func (f *FitReport) FileRegion() platform.Region {
	for _, k := range []ItemKind{KindFile, KindWeights} {
		for _, it := range f.Items {
			if it.Kind == k {
				// The header, or a copied group's stored bytes, is in the
				// file; without either, every group is.
				return it.Region
			}
		}
	}
	return ""
}

// WeightsIn returns the region the forward pass reads most weight bytes
// from (the file's region unless tensor groups are copied elsewhere); ""
// when the model does not fit.
func (f *FitReport) WeightsIn() platform.Region {
	best, most := platform.Region(""), int64(0)
	for _, r := range []platform.Region{platform.SRAM, platform.PSRAM, platform.Flash} {
		if n := f.Bytes(KindWeights, r); n > most {
			best, most = r, n
		}
	}
	return best
}

// StorageRegions returns the regions Fit may store the model file in with
// cfg, in the order it tries them: the pinned region, or automatic
// placement's order (PSRAM, flash read in place, SRAM) over the regions p
// has. A loader that must refuse a file before it has seen its header
// checks the file's size against these.
func StorageRegions(p platform.Platform, cfg FitConfig) []platform.Region {
	if cfg.Weights != "" {
		return []platform.Region{cfg.Weights}
	}
	return fileRegions(p)
}

// ErrDoesNotFit is wrapped by the *FitError that Fit returns.
var ErrDoesNotFit = errors.New("model does not fit")

// FitError names what does not fit where, by how much, and the changes
// that make it fit.
type FitError struct {
	// Item is the first item that found no room: a buffer's name, or
	// "model file" when the stored file fits no region.
	Item string
	Kind ItemKind
	// Region is the region that came closest; Capacity is what was left
	// in it for the item, Need what the item takes.
	Region   platform.Region
	Need     int64
	Capacity int64
	// From names the first tensor group that overflows Region when the
	// model file does not fit.
	From string
	// Fixes are single changes that each make the model fit, cheapest
	// first: a placement (--weights-in), a quantization, a shorter
	// context (--ctx), a smaller KV cache element. Each was checked by
	// placing the model again. Empty when no single change suffices.
	Fixes []Fix
}

// Fix is one change that makes a model fit.
type Fix struct {
	// Text says what to do, naming the tiny-profiler flag where one exists.
	Text string `json:"text"`
	// Weights, Context, Quantize and KVBytesPerElem are the change: the
	// region for the model file, the context length, the ggml type to
	// quantize to, or the KV cache's element size; zero where unchanged.
	Weights        platform.Region `json:"weights,omitempty"`
	Context        int             `json:"context,omitempty"`
	Quantize       string          `json:"quantize,omitempty"`
	KVBytesPerElem int             `json:"kv_bytes_per_elem,omitempty"`
}

// Short returns how many bytes the item lacks.
func (e *FitError) Short() int64 { return e.Need - e.Capacity }

func (e *FitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s) does not fit: %s free in %s, %s short", e.Item, formatBytes(e.Need), formatBytes(e.Capacity), regionName(e.Region), formatBytes(e.Short()))
	if e.From != "" {
		fmt.Fprintf(&b, ", from %s on", e.From)
	}
	switch len(e.Fixes) {
	case 0:
		fmt.Fprintf(&b, "; no change of format, placement or context makes it fit: choose a board with more %s", regionName(e.Region))
	case 1:
		fmt.Fprintf(&b, "; cheapest fix: %s", e.Fixes[0].Text)
	default:
		fmt.Fprintf(&b, "; cheapest fix: %s (or %s)", e.Fixes[0].Text, e.Fixes[1].Text)
	}
	return b.String()
}

// Unwrap returns ErrDoesNotFit.
func (e *FitError) Unwrap() error { return ErrDoesNotFit }

// Fit places every part of info on p with cfg: each tensor group (token
// embedding, each layer, classifier) as stored in the model file, the KV
// cache, and the runtime's buffers: for tinyprof's runtime its arena
// (firmware/runtime/README.md), for llama2.c's the buffers of
// malloc_run_state, the tokenizer and the float32 embedding table runq.c
// keeps for an int8 model; all after the firmware's own reservation
// (platform.FirmwareReserve). It is the one placement model: the
// analyze-model command, the simulated board (device/sim) and the
// benchmark's pre-flight check all call it, so they agree.
//
// It returns the report always, unless cfg is invalid; when the model
// does not fit the error is a *FitError naming the item, the region, the
// shortfall and the cheapest changes that make it fit.
func Fit(info *Info, p platform.Platform, cfg FitConfig) (*FitReport, error) {
	if info == nil || info.Layers <= 0 || info.KVDim() <= 0 {
		return nil, fmt.Errorf("fit: model info lacks layers or attention dimensions; analyze a model file first")
	}
	cfg = cfg.withDefaults(info)
	if cfg.Context <= 0 {
		return nil, fmt.Errorf("fit: context length unknown; set FitConfig.Context")
	}
	if info.Context > 0 && cfg.Context > info.Context {
		// Both runtimes stop at the model's seq_len (a legacy llama2.c
		// file's RoPE tables end there): a longer cache is never used.
		return nil, fmt.Errorf("fit: context %d is longer than the model's %d; give at most %d", cfg.Context, info.Context, info.Context)
	}
	switch {
	case cfg.Runtime != RuntimeTinyprof && cfg.Runtime != RuntimeLlama2C:
		return nil, fmt.Errorf("fit: FitConfig.Runtime is %q: give %q or %q", cfg.Runtime, RuntimeTinyprof, RuntimeLlama2C)
	case cfg.KVBytesPerElem != 4 && cfg.KVBytesPerElem != 2 && cfg.KVBytesPerElem != 1:
		return nil, fmt.Errorf("fit: FitConfig.KVBytesPerElem is %d: give 4, 2 or 1", cfg.KVBytesPerElem)
	case cfg.Runtime == RuntimeTinyprof && cfg.KVBytesPerElem != 4:
		return nil, fmt.Errorf("fit: tinyprof's runtime keeps a float32 KV cache; KVBytesPerElem %d is for RuntimeLlama2C what-ifs", cfg.KVBytesPerElem)
	}
	if err := checkConfig(info, cfg); err != nil {
		return nil, err
	}
	pl := place(info, p, cfg)
	f := pl.report
	f.Runtime, f.KVBytesPerElem = cfg.Runtime, cfg.KVBytesPerElem
	if !cfg.NoFirmwareReserve {
		f.Reservations = p.FirmwareReserve()
	}
	for i := range f.Regions {
		r := f.Regions[i].Region
		f.Regions[i].Used = f.Bytes("", r)
	}
	f.MaxContext = maxContext(info, p, cfg)
	if pl.fail != nil {
		pl.fail.Fixes = fixes(info, p, cfg, pl.fail, f.MaxContext)
		f.Verdict = pl.fail.Error()
		return f, pl.fail
	}
	f.Verdict = "fits"
	return f, nil
}

// maxContext is the largest context up to the model's own at which
// everything fits: a binary search on the need, which grows with the
// context. (Greedy placement could in principle make the need jump back
// where a growing buffer moves to another region; the result is always a
// context that fits.)
func maxContext(info *Info, p platform.Platform, cfg FitConfig) int {
	lo, hi := 0, max(info.Context, 1)
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		c := cfg
		c.Context = mid
		if place(info, p, c).fail == nil {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// fixes tries, in order of what they cost the user, the single changes
// that could make the model fit, and keeps those that do: storing the
// model elsewhere (free), quantizing to q8_0 (near lossless), a shorter
// context, quantizing to q4_0, an f16 or int8 KV cache.
func fixes(info *Info, p platform.Platform, cfg FitConfig, fail *FitError, maxCtx int) []Fix {
	var out []Fix
	fits := func(i *Info, c FitConfig) bool { return place(i, p, c).fail == nil }
	for _, r := range []platform.Region{platform.Flash, platform.PSRAM, platform.SRAM} {
		if r == cfg.Weights || capacityFor(p, r, KindFile) == 0 {
			continue
		}
		c := cfg
		c.Weights = r
		if fits(info, c) {
			out = append(out, Fix{Text: "store the model in " + regionName(r) + " (--weights-in " + string(r) + ")", Weights: r})
			break
		}
	}
	// A buffer pinned where it does not fit: unpin it.
	if fail.Kind != KindFile && fail.Kind != KindWeights {
		c := cfg
		c.Place = nil
		c.KVCache, c.Scratch, c.Tokenizer = "", "", ""
		if (cfg.Place != nil || cfg.KVCache != "" || cfg.Scratch != "" || cfg.Tokenizer != "") && fits(info, c) {
			out = append(out, Fix{Text: "let the buffers go where they fit (drop their pins)"})
		}
	}
	q8 := requantized(info, TypeQ8_0)
	if q8 != nil && fits(q8, cfg) {
		out = append(out, Fix{Text: "quantize to q8_0 (tiny-profiler quantize --type q8_0)", Quantize: "q8_0"})
	}
	if maxCtx > 0 && maxCtx < cfg.Context {
		n := maxCtx
		if n >= 32 {
			n -= n % 16 // a round figure, still the cheapest cut within 15 tokens
		}
		out = append(out, Fix{Text: fmt.Sprintf("cut the context to %d (--ctx %d)", n, n), Context: n})
	}
	if q8 == nil || !fits(q8, cfg) {
		if q4 := requantized(info, TypeQ4_0); q4 != nil && fits(q4, cfg) {
			out = append(out, Fix{Text: "quantize to q4_0 (tiny-profiler quantize --type q4_0)", Quantize: "q4_0"})
		}
	}
	for _, kv := range []int{2, 1} {
		if kv >= cfg.KVBytesPerElem || cfg.Runtime == RuntimeTinyprof {
			continue
		}
		c := cfg
		c.KVBytesPerElem = kv
		if fits(info, c) {
			name := map[int]string{2: "f16", 1: "int8"}[kv]
			out = append(out, Fix{Text: "store the KV cache as " + name + " (FitConfig.KVBytesPerElem " + fmt.Sprint(kv) + ")", KVBytesPerElem: kv})
			break
		}
	}
	if len(out) > 0 {
		return out
	}
	// No single change: a quantization and a shorter context together.
	for _, t := range []Type{TypeQ8_0, TypeQ4_0} {
		q := requantized(info, t)
		if q == nil {
			continue
		}
		if n := maxContext(q, p, cfg); n > 0 && n < cfg.Context {
			if n >= 32 {
				n -= n % 16
			}
			name := strings.ToLower(t.String())
			out = append(out, Fix{Text: fmt.Sprintf("quantize to %s (tiny-profiler quantize --type %s) and cut the context to %d (--ctx %d)", name, name, n, n), Quantize: name, Context: n})
			break
		}
	}
	return out
}

// requantized returns a copy of info as tiny-profiler quantize would write
// it with every matrix of at least t's width converted to t (a GGUF
// file); nil when no matrix would shrink.
func requantized(info *Info, t Type) *Info {
	c := *info
	c.Tensors = make([]Tensor, len(info.Tensors))
	var saved int64
	for i, tn := range info.Tensors {
		c.Tensors[i] = tn
		if len(tn.Shape) != 2 || tn.Shape[0]%t.BlockSize() != 0 {
			continue
		}
		if n := tn.Elements() / t.BlockSize() * t.BlockBytes(); n < tn.Bytes {
			saved += tn.Bytes - n
			c.Tensors[i].Bytes = n
		}
	}
	if saved == 0 {
		return nil
	}
	c.WeightBytes -= saved
	c.FileSize = max(0, c.FileSize-saved)
	c.Format, c.Version, c.GroupSize = "gguf", 3, 0
	return &c
}

func regionName(r platform.Region) string {
	switch r {
	case platform.SRAM:
		return "SRAM"
	case platform.PSRAM:
		return "PSRAM"
	case platform.Flash:
		return "flash"
	}
	return string(r)
}

// formatBytes prints n in B, KiB, MiB or GiB, with one decimal unless whole.
func formatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB"}
	v := float64(n)
	u := 0
	for (v >= 1024 || v <= -1024) && u < len(units)-1 {
		v /= 1024
		u++
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), units[u])
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}
