package compare

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// likeKeys are the configuration keys whose values must agree between the
// files for a benchmark's results to be compared like with like: the board
// and its kind, the firmware, the model's bytes and how they are held, the
// workload, and MLPerf's validity. power-source counts only for the power
// metrics. The benchmark's name carries the platform, model name, quant and
// tokens; the host lines go test writes (goos, goarch, pkg, cpu) say
// nothing of the board.
var likeKeys = []string{"board", "platform", "chip", "firmware", "model-sha256", "quant", "weights-in",
	"prompt", "simulated", "emulated", "valid", "power-source"}

// keyNoun names what each of likeKeys describes, for messages.
var keyNoun = map[string]string{
	"board": "board", "platform": "platform", "chip": "chip", "firmware": "firmware",
	"model-sha256": "model file", "quant": "quantisation", "weights-in": "weight placement",
	"prompt": "prompt", "simulated": "kind of board (simulated or not)", "emulated": "kind of board (emulated or not)",
	"valid": "MLPerf validity", "power-source": "power source",
}

// LikeKeys returns the configuration keys that must agree between the
// files for a benchmark to be compared like with like, the keys
// Options.Ignore may name.
func LikeKeys() []string { return slices.Clone(likeKeys) }

// Difference is a configuration key whose value differs between the two
// files for one benchmark.
type Difference struct {
	Key, Old, New string
}

func (d Difference) String() string {
	return fmt.Sprintf("%s %s → %s", d.Key, short(d.Key, d.Old), short(d.Key, d.New))
}

// differences returns the likeKeys whose values differ between old and
// new, one benchmark's configurations, for a metric in unit. A key one
// side does not set says nothing (an older file, say, written before the
// key existed), so only two values that are both set and unequal differ.
func differences(old, new map[string]string, unit string) []Difference {
	var out []Difference
	for _, k := range likeKeys {
		if k == "power-source" && !powerUnit(unit) {
			continue
		}
		o, n := old[k], new[k]
		if o != "" && n != "" && o != n {
			out = append(out, Difference{k, o, n})
		}
	}
	return out
}

// powerUnit reports whether unit is one of the power metrics, whose source
// the power-source line names.
func powerUnit(unit string) bool {
	return unit == "W" || strings.HasSuffix(unit, "-W") || strings.HasPrefix(unit, "J/")
}

// short abbreviates a model's hash for a message.
func short(key, v string) string {
	if key == "model-sha256" && len(v) > 12 {
		return v[:12] + "…"
	}
	return v
}

// unlikeKeys returns the keys of ds, each once, in order.
func unlikeKeys(ds []Difference) []string {
	var out []string
	for _, d := range ds {
		if !slices.Contains(out, d.Key) {
			out = append(out, d.Key)
		}
	}
	return out
}

// nothingInCommon is the error of two files with no benchmark and unit in
// common. It names the benchmarks of each and, when their names differ only
// in sub-name keys (platform=esp32s3 against platform=esp32p4, say), the
// benchstat projection that compares across them: those keys as columns,
// and the file configuration that differs ignored.
func nothingInCommon(of, nf *benchFile) error {
	ob, nb := of.benchNames(), nf.benchNames()
	common := 0
	for _, b := range ob {
		if slices.Contains(nb, b) {
			common++
		}
	}
	if common > 0 {
		return fmt.Errorf("compare: %s and %s have no benchmark and unit in common: their benchmarks are alike but %s reports %s and %s reports %s: compare outputs of the same tool, or of versions that name their units alike",
			of.name, nf.name, of.name, strings.Join(of.unitNames(), ", "), nf.name, strings.Join(nf.unitNames(), ", "))
	}
	msg := fmt.Sprintf("compare: %s and %s have no benchmark and unit in common: %s has %s; %s has %s",
		of.name, nf.name, of.name, list(ob), nf.name, list(nb))
	keys, ok := subNameDiffers(ob, nb)
	if len(keys) == 0 || !ok {
		return fmt.Errorf("%s: compare outputs of the same benchmarks", msg)
	}
	cols := make([]string, len(keys))
	for i, k := range keys {
		cols[i] = "/" + k
	}
	cmd := "benchstat -col " + strings.Join(cols, ",")
	if ign := configDiffers(of, nf); len(ign) > 0 {
		cmd += " -ignore " + strings.Join(ign, ",")
	}
	return fmt.Errorf("%s: their names differ in %s; to compare across %s, project with benchstat, which makes each value a column and the rest of the name the row: %s %s %s",
		msg, strings.Join(cols, ", "), plural(len(cols), "it", "them"), cmd, of.name, nf.name)
}

// benchNames returns the file's benchmarks, each once, in order.
func (f *benchFile) benchNames() []string {
	var out []string
	for _, k := range f.order {
		if !slices.Contains(out, k.bench) {
			out = append(out, k.bench)
		}
	}
	return out
}

// unitNames returns the file's units, each once, in order.
func (f *benchFile) unitNames() []string {
	var out []string
	for _, k := range f.order {
		if !slices.Contains(out, k.unit) {
			out = append(out, k.unit)
		}
	}
	return out
}

// list names up to three benchmarks and counts the rest.
func list(names []string) string {
	const show = 3
	if len(names) <= show {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:show], ", "), len(names)-show)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// subNameDiffers returns the sub-name keys (key=value parts of a name)
// whose values in old's benchmarks and new's are not the same sets. ok is
// false unless the names have the same bases and the same keys, every part
// a key=value, so that projecting the keys apart lines the benchmarks up.
func subNameDiffers(old, new []string) (keys []string, ok bool) {
	ov, obase, okeys, ok1 := subNames(old)
	nv, nbase, nkeys, ok2 := subNames(new)
	if !ok1 || !ok2 || !slices.Equal(obase, nbase) || !slices.Equal(okeys, nkeys) {
		return nil, false
	}
	for _, k := range okeys {
		if !maps.Equal(ov[k], nv[k]) {
			keys = append(keys, k)
		}
	}
	return keys, true
}

// subNames splits names into their sub-name values per key, and returns
// the sorted bases and keys; ok is false if a part is not key=value.
func subNames(names []string) (values map[string]map[string]bool, bases, keys []string, ok bool) {
	values = map[string]map[string]bool{}
	for _, n := range names {
		parts := strings.Split(n, "/")
		if !slices.Contains(bases, parts[0]) {
			bases = append(bases, parts[0])
		}
		for _, p := range parts[1:] {
			k, v, found := strings.Cut(p, "=")
			if !found {
				return nil, nil, nil, false
			}
			if values[k] == nil {
				values[k] = map[string]bool{}
				keys = append(keys, k)
			}
			values[k][v] = true
		}
	}
	slices.Sort(bases)
	slices.Sort(keys)
	return values, bases, keys, true
}

// configDiffers returns the file configuration keys whose values differ
// between the two files' results: benchstat splits its tables by them
// unless told to -ignore them.
func configDiffers(of, nf *benchFile) []string {
	values := func(f *benchFile) map[string]map[string]bool {
		out := map[string]map[string]bool{}
		for _, cfg := range f.configs {
			for k, v := range cfg {
				if out[k] == nil {
					out[k] = map[string]bool{}
				}
				out[k][v] = true
			}
		}
		return out
	}
	ov, nv := values(of), values(nf)
	var out []string
	for _, k := range slices.Sorted(maps.Keys(ov)) {
		if !maps.Equal(ov[k], nv[k]) {
			out = append(out, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(nv)) {
		if _, ok := ov[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}
