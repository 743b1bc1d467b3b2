package plan

import (
	"context"
	"fmt"

	"github.com/tinyprof/tinyprof/model"
	"github.com/tinyprof/tinyprof/platform/cost"
)

// Writable returns the fastest ranked configuration plan --apply can
// write, or false if none.
func (p *Plan) Writable() (Candidate, bool) {
	for _, c := range p.Ranked {
		if c.Writable {
			return c, true
		}
	}
	return Candidate{}, false
}

// Apply writes the model at in, quantized to c's format, to out through
// model.Quantize (a temporary file renamed into place), and returns
// Quantize's report. A llama2.c int8 format writes a llama2.c version 2
// checkpoint; every other format a GGUF file.
func Apply(ctx context.Context, in string, c Candidate, out string) (*model.QuantizeReport, error) {
	f, err := cost.LookupFormat(c.Format)
	if err != nil {
		return nil, err
	}
	if !f.Writable {
		return nil, fmt.Errorf("plan: tinyprof cannot write %s; choose a writable format (plan lists them)", f.Name)
	}
	opts := model.QuantizeOptions{Type: f.Type}
	if f.Llama2C {
		opts = model.QuantizeOptions{Llama2C: true, GroupSize: f.GroupSize}
	}
	rep, err := model.Quantize(ctx, in, out, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("plan: write %s as %s: %w", out, f.Name, err)
	}
	return rep, nil
}
