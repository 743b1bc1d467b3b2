package cost

import (
	"fmt"
	"io"
	"math"
)

// WriteMarkdown writes c as a Markdown table: every point's published
// figure, prediction, ratio and leave-one-out ratio, then the fitted
// scales and the interval they give.
func WriteMarkdown(w io.Writer, c *Calibrated) error {
	fmt.Fprintln(w, "| point | board (catalogue row) | model, format | published tok/s | predicted | ratio | leave-one-out predicted | LOO ratio |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---:|")
	worst := 0.0
	for _, r := range c.Rows {
		p := r.Point
		fmt.Fprintf(w, "| %s | %s | %s %s | %.2f | %.2f | %.2f | %.2f | %.2f |\n",
			p.ID, p.Platform, p.Model, p.Format, p.TokPerSec, r.Predicted, r.Ratio, r.LOOPredicted, r.LOORatio)
		worst = math.Max(worst, math.Abs(math.Log(r.LOORatio)))
	}
	fmt.Fprintf(w, "\nFitted scales: compute ×%.3f, memory ×%.3f. Leave-one-out RMS log error σ = %.3f, so a prediction's interval is ×%.2f to ×%.2f; the worst leave-one-out ratio is off by ×%.2f.\n",
		c.Scales.Compute, c.Scales.Memory, c.Sigma, math.Exp(-c.Sigma), math.Exp(c.Sigma), math.Exp(worst))
	_, err := fmt.Fprintln(w)
	return err
}
