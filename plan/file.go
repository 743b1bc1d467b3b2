package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/tinyprof/tinyprof/platform"
	"github.com/tinyprof/tinyprof/platform/cost"
)

// File is what plan --apply writes beside the model and benchmark --plan
// reads: the chosen configuration, the model file written for it, and
// what the cost model predicted, so a benchmark can be set against it.
type File struct {
	// Platform is the catalogue key of the board planned for.
	Platform string `json:"platform"`
	// Model is the path of the model file written for the plan; Source is
	// the model it was made from.
	Model  string `json:"model"`
	Source string `json:"source"`
	Config
	// Tokens is the generation length the prediction is for.
	Tokens     int             `json:"tokens"`
	Prediction cost.Prediction `json:"prediction"`
}

// maxFile bounds what ReadFile reads: a plan is well under a kilobyte.
const maxFile = 1 << 20

// WriteFile writes f as indented JSON to path.
func (f File) WriteFile(path string) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadFile reads and checks a plan written by WriteFile: a known
// platform, a model path, a known format and region, positive context,
// cores and clock within the platform's.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	defer fh.Close()
	raw, err := io.ReadAll(io.LimitReader(fh, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	if len(raw) > maxFile {
		return nil, fmt.Errorf("plan %s is over %d bytes: not a file plan --apply wrote", path, maxFile)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("plan %s: %w (write one with tiny-profiler plan MODEL --platform P --apply OUT)", path, err)
	}
	p, err := platform.Lookup(f.Platform)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	if _, err := cost.LookupFormat(f.Format); err != nil {
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	switch {
	case f.Model == "":
		return nil, fmt.Errorf("plan %s names no model file", path)
	case p.Capacity(f.WeightsIn) <= 0:
		return nil, fmt.Errorf("plan %s puts the weights in %q, which %s does not have", path, f.WeightsIn, p.Name)
	case f.Context <= 0 || f.Cores < 1 || f.Cores > p.Cores || f.CPUMHz < 1 || f.CPUMHz > p.CPUMHz:
		return nil, fmt.Errorf("plan %s: context %d, %d cores, %d MHz do not fit %s (%d cores, %d MHz)", path, f.Context, f.Cores, f.CPUMHz, p.Name, p.Cores, p.CPUMHz)
	}
	return &f, nil
}
