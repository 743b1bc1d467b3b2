// Package chart draws a profile report's charts with gonum/plot: a
// histogram of every inter-token latency with its percentiles marked, and
// free heap (and PSRAM) over the board's uptime, each as SVG and PNG. It
// is the CLI's --plot; it lives apart from bench so that a benchmark
// binary links no plotting, font, PDF or LaTeX package.
package chart

import (
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"

	"github.com/tinyprof/tinyprof/bench/report"
	"github.com/tinyprof/tinyprof/internal/atomicfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Plot sizes: wide enough to read on a laptop screen and in a PR comment.
const (
	plotWidth  = 8 * vg.Inch
	plotHeight = 4 * vg.Inch
)

// Write writes r's per-token latency histogram (latency.svg, latency.png)
// and heap-over-time chart (heap.svg, heap.png) into dir, creating it,
// each file atomically, and returns their paths. Charts of a simulated
// or emulated board say so in their titles.
func Write(dir string, r *report.Report) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("plots: %w", err)
	}
	var paths []string
	for _, c := range []struct {
		name  string
		write func(io.Writer, *report.Report, string) error
	}{{"latency", writeLatency}, {"heap", writeHeap}} {
		for _, format := range []string{"svg", "png"} {
			path := filepath.Join(dir, c.name+"."+format)
			if err := atomicfile.Write(path, 0o644, func(f io.Writer) error { return c.write(f, r, format) }); err != nil {
				return paths, fmt.Errorf("plots: %w", err)
			}
			paths = append(paths, path)
		}
	}
	return paths, nil
}

func titleSuffix(r *report.Report) string {
	s := fmt.Sprintf("%s, %s (%s), %d runs", r.Board.Platform, r.Model.Name, r.Model.Quant, len(r.Runs))
	if r.Simulated {
		s += " — simulated: modelled, not measured"
	}
	if r.Emulation != nil {
		s += " — " + r.Emulation.Label
	}
	return s
}

// writeLatency draws every inter-token latency of the measured runs as
// a histogram, with the p50, p95 and p99 marked.
func writeLatency(w io.Writer, r *report.Report, format string) error {
	var v plotter.Values
	for _, run := range r.Runs {
		for _, s := range run.ITLSeconds {
			v = append(v, s*1e3)
		}
	}
	p := plot.New()
	p.Title.Text = "Inter-token latency — " + titleSuffix(r)
	p.X.Label.Text = "latency (ms)"
	p.Y.Label.Text = "tokens"
	if len(v) == 0 {
		p.Title.Text += " (no samples)"
		return writePlot(w, p, format)
	}
	bins := min(60, max(10, len(v)/20))
	h, err := plotter.NewHist(v, bins)
	if err != nil {
		return err
	}
	h.FillColor = plotColor(0)
	p.Add(plotter.NewGrid(), h)
	top := 0.0
	for _, b := range h.Bins {
		top = max(top, b.Weight)
	}
	s := r.Summary
	for i, q := range []struct {
		name string
		x    float64
	}{{"p50", s.ITLP50Seconds}, {"p95", s.ITLP95Seconds}, {"p99", s.ITLP99Seconds}} {
		l, err := plotter.NewLine(plotter.XYs{{X: q.x * 1e3, Y: 0}, {X: q.x * 1e3, Y: top}})
		if err != nil {
			return err
		}
		l.Color = plotColor(i + 1)
		l.Width = vg.Points(1.5)
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s %.2f ms", q.name, q.x*1e3), l)
	}
	p.Y.Max = top * 1.3 // room for the legend above the bars
	pad := (h.Bins[len(h.Bins)-1].Max - h.Bins[0].Min) * 0.03
	p.X.Min, p.X.Max = h.Bins[0].Min-pad, h.Bins[len(h.Bins)-1].Max+pad // the p99 line off the frame
	p.Legend.Top = true
	return writePlot(w, p, format)
}

// writeHeap draws free heap against the board's uptime — read during
// the generations (marked) and after each — and below it, on a board with
// PSRAM, free PSRAM: two scales, since PSRAM is tens of times larger.
func writeHeap(w io.Writer, r *report.Report, format string) error {
	var heap, psram, heapDuring, psramDuring plotter.XYs
	for _, s := range r.Memory.Series {
		h := plotter.XY{X: s.UptimeSeconds, Y: float64(s.FreeHeap) / 1024}
		ps := plotter.XY{X: s.UptimeSeconds, Y: float64(s.PSRAMFree) / 1024}
		heap, psram = append(heap, h), append(psram, ps)
		if s.During {
			heapDuring, psramDuring = append(heapDuring, h), append(psramDuring, ps)
		}
	}
	panel := func(title, name string, xys, during plotter.XYs, color int) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "board uptime (s)"
		p.Y.Label.Text = name + " (KiB)"
		p.Add(plotter.NewGrid())
		if len(xys) == 0 {
			p.Title.Text += " (no samples)"
			return p, nil
		}
		if err := addSeries(p, name, xys, color); err != nil {
			return nil, err
		}
		if len(during) > 0 {
			sc, err := plotter.NewScatter(during)
			if err != nil {
				return nil, err
			}
			sc.Color = plotColor(color)
			sc.Shape = draw.RingGlyph{}
			sc.Radius = vg.Points(4)
			p.Add(sc)
			p.Legend.Add("read during a generation", sc)
		}
		return p, nil
	}
	title := "Free memory during and after each run — "
	if r.Memory.SamplesDuring == 0 {
		title = "Free memory after each run (no read landed inside a generation) — "
	}
	top, err := panel(title+titleSuffix(r), "free heap", heap, heapDuring, 0)
	if err != nil {
		return err
	}
	plots := [][]*plot.Plot{{top}}
	if r.Board.PSRAM > 0 {
		bottom, err := panel("", "free PSRAM", psram, psramDuring, 1)
		if err != nil {
			return err
		}
		plots = append(plots, []*plot.Plot{bottom})
	}
	return writeTiles(w, plots, format)
}

// writeTiles draws plots stacked, aligned on their axes.
func writeTiles(w io.Writer, plots [][]*plot.Plot, format string) error {
	height := plotHeight * vg.Length(len(plots)) * 3 / 4
	var c interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch format {
	case "svg":
		c = vgsvg.New(plotWidth, height)
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.New(plotWidth, height)}
	default:
		return fmt.Errorf("unknown plot format %q", format)
	}
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadY: vg.Points(12), PadLeft: vg.Points(4), PadRight: vg.Points(12)}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	_, err := c.WriteTo(w)
	return err
}

func addSeries(p *plot.Plot, name string, xys plotter.XYs, color int) error {
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color = plotColor(color)
	s.Color = plotColor(color)
	s.Shape = draw.CircleGlyph{}
	s.Radius = vg.Points(1.5)
	p.Add(l, s)
	p.Legend.Add(name, l, s)
	return nil
}

func writePlot(w io.Writer, p *plot.Plot, format string) error {
	wt, err := p.WriterTo(plotWidth, plotHeight, format)
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}

// plotColor returns the i-th colour of a palette that reads in colour and
// in grey (Okabe–Ito: blue, vermillion, bluish green, reddish purple).
func plotColor(i int) color.Color {
	p := []color.RGBA{{0, 114, 178, 255}, {213, 94, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255}}
	return p[i%len(p)]
}
