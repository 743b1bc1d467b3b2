package model

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/tinyprof/tinyprof/platform"
)

// FitConfig is the runtime configuration Fit checks a model against. The
// zero value means: the model's full context, a float32 KV cache, automatic
// placement, nothing reserved.
type FitConfig struct {
	// Context is the context length in tokens; 0 means Info.Context.
	Context int
	// KVBytesPerElem is the size of one KV cache element: 4 for float32
	// (llama2.c), 2 for f16, 1 for int8. 0 means 4.
	KVBytesPerElem int
	// Weights, KVCache and Scratch pin an item to a memory region. Empty
	// means automatic: weights in flash when the board reads flash in place
	// (XIP), else PSRAM, else SRAM; the KV cache and scratch in SRAM when
	// they fit, else PSRAM.
	Weights, KVCache, Scratch platform.Region
	// Reserve is memory kept back per region for firmware, stacks and
	// heap fragmentation; nil reserves nothing.
	Reserve map[platform.Region]int64
}

// Item is one thing that needs memory.
type Item struct {
	Name   string // "weights", "KV cache", "activations", "tokenizer"
	Bytes  int64
	Region platform.Region // where Fit placed it; empty if nowhere
}

// RegionUse is the use of one memory region.
type RegionUse struct {
	Region   platform.Region
	Capacity int64 // what the platform has, minus FitConfig.Reserve
	Used     int64
}

// FitReport is the memory estimate of a model on a platform. (It cannot
// be called Fit: that is the function.)
type FitReport struct {
	Platform string
	Context  int
	Items    []Item
	Regions  []RegionUse
	// Fits reports whether every item has a region.
	Fits bool
	// Verdict is a one-line summary: "fits" or what does not fit and why.
	Verdict string
	// MaxContext is the largest context length (up to the model's own) at
	// which the model fits with this configuration; 0 if none does.
	MaxContext int
}

// ErrDoesNotFit is wrapped by the *FitError that Fit returns.
var ErrDoesNotFit = errors.New("model does not fit")

// FitError names what does not fit where, with advice.
type FitError struct {
	Item     string
	Region   platform.Region
	Need     int64
	Capacity int64 // free space left in Region for the item
	Advice   string
}

func (e *FitError) Error() string {
	msg := fmt.Sprintf("%s %s exceeds %s %s", e.Item, formatBytes(e.Need), formatBytes(e.Capacity), regionName(e.Region))
	if e.Advice != "" {
		msg += "; " + e.Advice
	}
	return msg
}

// Unwrap returns ErrDoesNotFit.
func (e *FitError) Unwrap() error { return ErrDoesNotFit }

// Fit estimates the memory info needs on p with cfg: weights (the tensor
// bytes), KV cache (Info.KVCacheBytes), activations and scratch (the
// buffers of llama2.c's malloc_run_state: x, xb, xb2, hb, hb2, q, k, v,
// att, logits, float32; plus the dequantized embedding runq.c keeps for an
// int8 model), and tokenizer (vocabulary strings plus 16 bytes of pointers,
// score and sort index per token). It returns the breakdown always; when
// the model does not fit the error is a *FitError naming the item, the
// region, the need and the capacity, with advice.
func Fit(info *Info, p platform.Platform, cfg FitConfig) (*FitReport, error) {
	if info == nil || info.Layers <= 0 || info.KVDim() <= 0 {
		return nil, fmt.Errorf("fit: model info lacks layers or attention dimensions; analyze a model file first")
	}
	if cfg.Context == 0 {
		cfg.Context = info.Context
	}
	if cfg.Context <= 0 {
		return nil, fmt.Errorf("fit: context length unknown; set FitConfig.Context")
	}
	if cfg.KVBytesPerElem == 0 {
		cfg.KVBytesPerElem = 4
	}
	f, ferr := place(info, p, cfg)
	// Largest context: binary search on the monotone need.
	lo, hi := 0, info.Context
	if hi <= 0 {
		hi = cfg.Context
	}
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		c := cfg
		c.Context = mid
		if _, err := place(info, p, c); err == nil {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	f.MaxContext = lo
	var fe *FitError
	if errors.As(ferr, &fe) && fe.Item == "KV cache" && f.MaxContext > 0 && f.MaxContext < cfg.Context {
		if fe.Advice != "" {
			fe.Advice += " or "
		}
		fe.Advice += fmt.Sprintf("cut the context to %d", floorPow2(f.MaxContext))
	}
	if ferr != nil {
		f.Verdict = ferr.Error()
		return f, ferr
	}
	f.Verdict = "fits"
	return f, nil
}

func floorPow2(n int) int { return 1 << (bits.Len(uint(n)) - 1) }

// place assigns every item a region.
func place(info *Info, p platform.Platform, cfg FitConfig) (*FitReport, error) {
	f := &FitReport{Platform: p.Name, Context: cfg.Context, Fits: true}
	free := map[platform.Region]int64{}
	for _, r := range []platform.Region{platform.SRAM, platform.PSRAM, platform.Flash} {
		c := max(0, p.Capacity(r)-cfg.Reserve[r])
		free[r] = c
		if p.Capacity(r) > 0 {
			f.Regions = append(f.Regions, RegionUse{Region: r, Capacity: c})
		}
	}
	weightsPref := []platform.Region{platform.PSRAM, platform.SRAM}
	if p.XIP {
		weightsPref = append([]platform.Region{platform.Flash}, weightsPref...)
	}
	ramPref := []platform.Region{platform.SRAM, platform.PSRAM}
	items := []struct {
		item Item
		pin  platform.Region
		pref []platform.Region
	}{
		{Item{Name: "activations", Bytes: activationBytes(info, cfg.Context)}, cfg.Scratch, ramPref},
		{Item{Name: "tokenizer", Bytes: tokenizerBytes(info)}, "", ramPref},
		{Item{Name: "KV cache", Bytes: info.KVCacheBytes(cfg.Context, cfg.KVBytesPerElem)}, cfg.KVCache, ramPref},
		{Item{Name: "weights", Bytes: info.WeightBytes}, cfg.Weights, weightsPref},
	}
	var firstErr error
	for _, it := range items {
		pref := it.pref
		if it.pin != "" {
			pref = []platform.Region{it.pin}
		}
		for _, r := range pref {
			if p.Capacity(r) > 0 && it.item.Bytes <= free[r] {
				it.item.Region = r
				free[r] -= it.item.Bytes
				break
			}
		}
		if it.item.Region == "" && firstErr == nil {
			f.Fits = false
			firstErr = fitError(it.item, pref, free, p, it.pin != "")
		}
		f.Items = append(f.Items, it.item)
	}
	for i := range f.Regions {
		f.Regions[i].Used = f.Regions[i].Capacity - free[f.Regions[i].Region]
	}
	return f, firstErr
}

func fitError(it Item, pref []platform.Region, free map[platform.Region]int64, p platform.Platform, pinned bool) error {
	// Name the preferred region that comes closest.
	best := pref[0]
	for _, r := range pref {
		if free[r] > free[best] {
			best = r
		}
	}
	e := &FitError{Item: it.Name, Region: best, Need: it.Bytes, Capacity: free[best]}
	if pinned && it.Name != "weights" {
		for _, r := range []platform.Region{platform.PSRAM, platform.SRAM} {
			if r != best && p.Capacity(r) > 0 && free[r] >= it.Bytes {
				e.Advice = "put it in " + regionName(r)
				break
			}
		}
	}
	switch it.Name {
	case "weights":
		e.Advice = "quantize the model (q8_0 halves float16, q4_0 quarters it) or choose a board with more memory"
		if pinned {
			e.Advice = "place the weights elsewhere, " + e.Advice
		}
	case "KV cache":
		if e.Advice == "" {
			e.Advice = "store the KV cache as f16 or int8"
		}
	case "activations", "tokenizer":
		if e.Advice == "" {
			e.Advice = "choose a board with more RAM"
		}
	}
	return e
}

// activationBytes sizes llama2.c's run state (run.c malloc_run_state):
// x, xb, xb2, q (dim each), hb, hb2 (hidden), k, v (kv_dim), att
// (heads × ctx), logits (vocab), all float32. An int8 llama2.c model also
// keeps a float32 copy of the token embedding (runq.c memory_map_weights)
// and int8 copies of the activations.
func activationBytes(i *Info, ctx int) int64 {
	n := int64(4*i.Embedding) + int64(2*i.FeedForward) + int64(2*i.KVDim()) + int64(i.Heads)*int64(ctx) + int64(i.Vocab)
	b := 4 * n
	if i.Format == "llama2c" && i.Version == 2 {
		b += 4*int64(i.Vocab)*int64(i.Embedding) + 5*int64(i.Embedding+i.FeedForward)
	}
	return b
}

// tokenizerBytes estimates the vocabulary in RAM: the strings (8 bytes a
// token when the file has none) plus a pointer, a float score and a
// sort-index entry per token, as llama2.c's Tokenizer holds them.
func tokenizerBytes(i *Info) int64 {
	s := i.TokenizerBytes
	if s == 0 {
		s = 8 * int64(i.Vocab)
	}
	return s + int64(i.Vocab)*(16+1)
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
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), units[u])
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}
