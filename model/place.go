package model

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tinyprof/tinyprof/platform"
)

// ItemKind says what an Item holds.
type ItemKind string

// The kinds of Item.
const (
	// KindWeights is tensor data where the forward pass reads it.
	KindWeights ItemKind = "weights"
	// KindFile is the rest of the stored model file: its header and
	// metadata, and the stored bytes of tensors the forward pass reads
	// from a copy elsewhere.
	KindFile ItemKind = "file"
	// KindKVCache is the KV cache, KindActivations the run state of a
	// forward pass (and the float32 embedding table of an int8 llama2.c
	// model), KindTokenizer the vocabulary.
	KindKVCache     ItemKind = "kv_cache"
	KindActivations ItemKind = "activations"
	KindTokenizer   ItemKind = "tokenizer"
)

// AtLoad reports whether a firmware holds the item from the moment the
// model is loaded (the file, the weights, the tokenizer) rather than from
// the start of a generation (the KV cache and the run state).
func (k ItemKind) AtLoad() bool {
	return k == KindWeights || k == KindFile || k == KindTokenizer
}

// The names of the items that are not tensor groups. A tensor group is
// named "token embedding", "layer N", "classifier" or "other tensors".
const (
	ItemActivations  = "activations"
	ItemEmbeddingF32 = "token embedding f32 copy"
	ItemTokenizer    = "tokenizer"
	ItemKVCache      = "KV cache"
	ItemFileHeader   = "file header"
	ItemEmbedding    = "token embedding"
	ItemClassifier   = "classifier"
	ItemOtherTensors = "other tensors"
)

// LayerItem returns the name of layer l's tensor group, "layer 3".
func LayerItem(l int) string { return "layer " + strconv.Itoa(l) }

// part is one tensor group of a model.
type part struct {
	name    string
	bytes   int64
	tensors []string
}

// weightParts groups info's tensors as the forward pass reads them: the
// token embedding, each layer, the classifier (output norm and, when not
// shared, the output matrix), and anything else (a legacy llama2.c file's
// RoPE tables, which Info.WeightBytes leaves out). Their bytes sum to the
// tensor table's, or to Info.WeightBytes if that is more.
func weightParts(info *Info) []part {
	emb := part{name: ItemEmbedding}
	layers := make([]part, info.Layers)
	for l := range layers {
		layers[l].name = LayerItem(l)
	}
	cls := part{name: ItemClassifier}
	other := part{name: ItemOtherTensors}
	var sum int64
	for _, t := range info.Tensors {
		sum += t.Bytes
		p := &other
		switch {
		case t.Name == "token_embd.weight":
			p = &emb
		case t.Name == "output.weight" || t.Name == "output_norm.weight":
			p = &cls
		case strings.HasPrefix(t.Name, "blk."):
			rest := strings.TrimPrefix(t.Name, "blk.")
			n, _, _ := strings.Cut(rest, ".")
			if l, err := strconv.Atoi(n); err == nil && l >= 0 && l < len(layers) {
				p = &layers[l]
			}
		}
		p.bytes += t.Bytes
		p.tensors = append(p.tensors, t.Name)
	}
	if d := info.WeightBytes - sum; d > 0 {
		other.bytes += d // weights the tensor table does not itemise
	}
	out := []part{emb}
	out = append(out, layers...)
	out = append(out, cls, other)
	return slices.DeleteFunc(out, func(p part) bool { return p.bytes == 0 })
}

// ramRegions are where a buffer may go, best first.
var ramRegions = []platform.Region{platform.SRAM, platform.PSRAM}

// fileRegions are where the model file may be stored when the caller does
// not say, best first: PSRAM, which reads faster than flash through the
// cache on every catalogue board that has both and is where esp32-llm
// loads its model; flash read in place; SRAM.
func fileRegions(p platform.Platform) []platform.Region {
	var out []platform.Region
	for _, r := range []platform.Region{platform.PSRAM, platform.Flash, platform.SRAM} {
		if capacityFor(p, r, KindFile) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// capacityFor is the size of region r for items of kind k: flash holds
// only what is read in place, and never a buffer written at run time.
func capacityFor(p platform.Platform, r platform.Region, k ItemKind) int64 {
	if r == platform.Flash && (!p.XIP || !(k == KindWeights || k == KindFile)) {
		return 0
	}
	return p.Capacity(r)
}

func validRegion(r platform.Region) bool {
	return r == platform.SRAM || r == platform.PSRAM || r == platform.Flash
}

// checkConfig refuses pins that name no item or no region, and buffers
// pinned to flash.
func checkConfig(info *Info, cfg FitConfig) error {
	for name, r := range map[string]platform.Region{"Weights": cfg.Weights, "KVCache": cfg.KVCache, "Scratch": cfg.Scratch, "Tokenizer": cfg.Tokenizer} {
		if r != "" && !validRegion(r) {
			return fmt.Errorf("fit: FitConfig.%s is %q: give sram, psram or flash", name, r)
		}
	}
	for _, r := range []platform.Region{cfg.KVCache, cfg.Scratch, cfg.Tokenizer} {
		if r == platform.Flash {
			return fmt.Errorf("fit: buffers written at run time (KV cache, activations, tokenizer) cannot live in flash; give sram or psram")
		}
	}
	known := map[string]ItemKind{ItemActivations: KindActivations, ItemKVCache: KindKVCache}
	if cfg.Runtime == RuntimeLlama2C {
		known[ItemTokenizer] = KindTokenizer
		if isLlama2CInt8(info) {
			known[ItemEmbeddingF32] = KindActivations
		}
	} else if cfg.Tokenizer != "" {
		return fmt.Errorf("fit: FitConfig.Tokenizer is set, but tinyprof's runtime keeps no tokenizer on the device (the host decodes); pin it with RuntimeLlama2C")
	}
	for _, pt := range weightParts(info) {
		known[pt.name] = KindWeights
	}
	names := make([]string, 0, len(cfg.Place))
	for n := range cfg.Place {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		r := cfg.Place[n]
		k, ok := known[n]
		switch {
		case !ok:
			return fmt.Errorf("fit: FitConfig.Place names %q, which this model does not have with the %s runtime: use %q, %q (with the llama2c runtime also %q, and %q for an int8 model) or a tensor group (%q, %q…%q, %q)",
				n, cfg.Runtime, ItemActivations, ItemKVCache, ItemTokenizer, ItemEmbeddingF32, ItemEmbedding, LayerItem(0), LayerItem(max(0, info.Layers-1)), ItemClassifier)
		case !validRegion(r):
			return fmt.Errorf("fit: FitConfig.Place[%q] is %q: give sram, psram or flash", n, r)
		case r == platform.Flash && k != KindWeights:
			return fmt.Errorf("fit: FitConfig.Place[%q] is flash, but it is written at run time; give sram or psram", n)
		}
	}
	return nil
}

// placement is one attempt to place every item.
type placement struct {
	report *FitReport
	fail   *FitError // the first item that found no room, nil if all fit
}

// place assigns every item a region, in a fixed order so that the result
// is deterministic: what the caller pinned first; then the buffers
// (activations, the int8 embedding table, tokenizer, KV cache), each in
// SRAM if it fits, else PSRAM; then the model file, in the pinned region
// or the first of fileRegions that holds all of it.
func place(info *Info, p platform.Platform, cfg FitConfig) placement {
	f := &FitReport{Platform: p.Name, Context: cfg.Context, Fits: true}
	free := map[platform.Region]int64{}
	for _, r := range []platform.Region{platform.SRAM, platform.PSRAM, platform.Flash} {
		var res int64
		if !cfg.NoFirmwareReserve {
			res = p.Reserved(r)
		}
		c := max(0, p.Capacity(r)-res-cfg.Reserve[r])
		free[r] = c
		if p.Capacity(r) > 0 {
			f.Regions = append(f.Regions, RegionUse{Region: r, Size: p.Capacity(r), Reserved: p.Capacity(r) - c, Capacity: c})
		}
	}
	var fail *FitError
	put := func(it Item, pref []platform.Region) bool {
		for _, r := range pref {
			if capacityFor(p, r, it.Kind) > 0 && it.Bytes <= free[r] {
				it.Region = r
				free[r] -= it.Bytes
				f.Items = append(f.Items, it)
				return true
			}
		}
		f.Items = append(f.Items, it)
		if fail == nil {
			f.Fits = false
			fail = shortfall(it, pref, free, p)
		}
		return false
	}
	type buffer struct {
		it  Item
		pin platform.Region
	}
	var bufs []buffer
	if cfg.Runtime == RuntimeLlama2C {
		bufs = append(bufs, buffer{Item{Name: ItemActivations, Kind: KindActivations, Bytes: llama2cRunState(info, cfg.Context)}, cfg.Scratch})
		if n := embeddingCopyBytes(info); n > 0 {
			bufs = append(bufs, buffer{Item{Name: ItemEmbeddingF32, Kind: KindActivations, Bytes: n}, cfg.Scratch})
		}
		bufs = append(bufs, buffer{Item{Name: ItemTokenizer, Kind: KindTokenizer, Bytes: tokenizerBytes(info)}, cfg.Tokenizer})
	} else {
		bufs = append(bufs, buffer{Item{Name: ItemActivations, Kind: KindActivations, Bytes: tinyprofArena(info, cfg.Context)}, cfg.Scratch})
	}
	bufs = append(bufs, buffer{Item{Name: ItemKVCache, Kind: KindKVCache, Bytes: info.KVCacheBytes(cfg.Context, cfg.KVBytesPerElem)}, cfg.KVCache})
	for i := range bufs {
		if r := cfg.Place[bufs[i].it.Name]; r != "" {
			bufs[i].pin = r
		}
	}
	// What the caller pinned goes first, so that an automatic item placed
	// earlier cannot take its room (which would also make the need
	// depend on the context in jumps): pinned buffers, then the copies of
	// pinned tensor groups, then the automatic buffers.
	for _, b := range bufs {
		if b.pin != "" {
			put(b.it, []platform.Region{b.pin})
		}
	}
	parts := weightParts(info)
	copied := map[platform.Region]int64{} // bytes of copies per region
	for _, pt := range parts {
		if r := cfg.Place[pt.name]; r != "" {
			if put(Item{Name: pt.name, Kind: KindWeights, Bytes: pt.bytes, Tensors: pt.tensors}, []platform.Region{r}) {
				copied[r] += pt.bytes
			}
		}
	}
	for _, b := range bufs {
		if b.pin == "" {
			put(b.it, ramRegions)
		}
	}

	// The model file is stored whole in one region, as the firmware
	// receives it. A pinned tensor group in another region is a copy; in
	// the file's own region it is just the file's.
	total := max(info.FileSize, sumParts(parts))
	pref := fileRegions(p)
	if cfg.Weights != "" {
		pref = []platform.Region{cfg.Weights}
	}
	home := platform.Region("")
	for _, r := range pref {
		if capacityFor(p, r, KindFile) > 0 && total <= free[r]+copied[r] {
			home = r
			break
		}
	}
	if home == "" {
		f.Fits = false
		if fail == nil {
			fail = fileShortfall(parts, total, pref, free, p)
		}
		for _, pt := range parts {
			if cfg.Place[pt.name] == "" {
				f.Items = append(f.Items, Item{Name: pt.name, Kind: KindWeights, Bytes: pt.bytes, Tensors: pt.tensors})
			}
		}
		return placement{f, fail}
	}
	free[home] += copied[home] - total
	if h := total - sumParts(parts); h > 0 {
		f.Items = append(f.Items, Item{Name: ItemFileHeader, Kind: KindFile, Bytes: h, Region: home})
	}
	for _, pt := range parts {
		switch r := cfg.Place[pt.name]; {
		case r == home:
			// Placed above, where the file is.
		case r != "":
			f.Items = append(f.Items, Item{Name: pt.name + " (stored)", Kind: KindFile, Bytes: pt.bytes, Region: home, Tensors: pt.tensors})
		default:
			f.Items = append(f.Items, Item{Name: pt.name, Kind: KindWeights, Bytes: pt.bytes, Region: home, Tensors: pt.tensors})
		}
	}
	return placement{f, fail}
}

// shortfall describes it not fitting any of pref, against the region that
// comes closest.
func shortfall(it Item, pref []platform.Region, free map[platform.Region]int64, p platform.Platform) *FitError {
	best := pref[0]
	for _, r := range pref {
		if capacityFor(p, r, it.Kind) > 0 && (capacityFor(p, best, it.Kind) == 0 || free[r] > free[best]) {
			best = r
		}
	}
	c := free[best]
	if capacityFor(p, best, it.Kind) == 0 {
		c = 0
	}
	return &FitError{Item: it.Name, Kind: it.Kind, Region: best, Need: it.Bytes, Capacity: c}
}

// fileShortfall names the model file not fitting, and the first tensor
// group that overflows the region that comes closest.
func fileShortfall(parts []part, total int64, pref []platform.Region, free map[platform.Region]int64, p platform.Platform) *FitError {
	e := shortfall(Item{Name: "weights", Kind: KindFile, Bytes: total}, pref, free, p)
	e.Item = "model file"
	left := e.Capacity - (total - sumParts(parts))
	for _, pt := range parts {
		if pt.bytes > left {
			e.From = pt.name
			break
		}
		left -= pt.bytes
	}
	return e
}

func sumParts(parts []part) int64 {
	var n int64
	for _, p := range parts {
		n += p.bytes
	}
	return n
}

// Runtime names the inference code whose buffers Fit counts.
type Runtime string

// The runtimes Fit knows.
const (
	// RuntimeTinyprof is tinyprof's firmware runtime (firmware/runtime,
	// and its Go twin model/llama that the simulated board runs): weights
	// read in place, every other byte from one arena, and no tokenizer on
	// the device (the host decodes token ids).
	RuntimeTinyprof Runtime = "tinyprof"
	// RuntimeLlama2C is llama2.c's run.c and runq.c, as firmware such as
	// esp32-llm builds them: malloc_run_state's buffers, the Tokenizer in
	// RAM, and runq's float32 copy of an int8 model's token embedding.
	RuntimeLlama2C Runtime = "llama2c"
)

// tinyprofArena is the arena of firmware/runtime less its KV cache, as
// firmware/runtime/README.md ("Memory") tables it, each buffer 8-byte
// aligned: the layer table (108 bytes a layer), x, xb, xb2, q (dim
// floats each), hb, hb2 (hidden), att (ctx), logits (vocab), the RoPE
// frequencies, cos and sin (head_dim/2 each), and the sampler's
// candidates (8 bytes a token), which top-k and top-p sampling take.
// Stories260K at context 512 gives 662,448 bytes with its KV cache, as
// the README says, plus 4,096 of candidates.
func tinyprofArena(i *Info, ctx int) int64 {
	a8 := func(n int64) int64 { return (n + 7) &^ 7 }
	d, h, v := int64(i.Embedding), int64(i.FeedForward), int64(i.Vocab)
	return a8(108*int64(i.Layers)) + 4*a8(4*d) + 2*a8(4*h) + a8(4*int64(ctx)) + a8(4*v) +
		3*a8(4*int64(i.HeadDim/2)) + a8(8*v)
}

// llama2cRunState sizes llama2.c's run state (run.c malloc_run_state):
// x, xb, xb2, q (dim each), hb, hb2 (hidden), k, v (kv_dim), att
// (heads × ctx), logits (vocab), all float32. An int8 llama2.c model also
// keeps int8 copies of the activations with their scales (runq.c's
// QuantizedTensor xq and hq).
func llama2cRunState(i *Info, ctx int) int64 {
	n := int64(4*i.Embedding) + int64(2*i.FeedForward) + int64(2*i.KVDim()) + int64(i.Heads)*int64(ctx) + int64(i.Vocab)
	b := 4 * n
	if isLlama2CInt8(i) {
		b += 5 * int64(i.Embedding+i.FeedForward)
	}
	return b
}

// embeddingCopyBytes is the float32 token embedding table that runq.c
// (memory_map_weights) dequantizes into RAM for an int8 llama2.c model;
// 0 for every other model. tinyprof's runtime reads the int8 rows in place.
func embeddingCopyBytes(i *Info) int64 {
	if !isLlama2CInt8(i) {
		return 0
	}
	return 4 * int64(i.Vocab) * int64(i.Embedding)
}

func isLlama2CInt8(i *Info) bool { return i.Format == "llama2c" && i.Version == 2 }

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
