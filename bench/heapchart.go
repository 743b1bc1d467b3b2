package bench

import (
	"fmt"
	"html"
	"io"
	"strings"
)

// Size of the leak chart, in SVG user units (pixels).
const (
	chartWidth, chartHeight = 800.0, 400.0
	chartLeft, chartRight   = 80.0, 20.0
	chartTop, chartBottom   = 40.0, 50.0
)

// writeLeakChart draws a leak check's free heap and largest free block
// against the iteration as a plain SVG line chart. It is drawn by hand so
// that a benchmark binary links no plotting, font or PDF library; the
// CLI's richer charts live in package bench/chart.
func writeLeakChart(w io.Writer, rep *LeakReport) error {
	title := "Leak check: free heap after each iteration"
	if rep.Simulated {
		title += " — simulated: modelled, not measured"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="12">`+"\n",
		chartWidth, chartHeight, chartWidth, chartHeight)
	fmt.Fprintf(&b, "<title>%s</title>\n", html.EscapeString(title))
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%g" y="24" font-size="14">%s</text>`+"\n", chartLeft, html.EscapeString(title))
	s := rep.Series
	if len(s) == 0 {
		b.WriteString("</svg>\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	x0, x1 := float64(s[0].Iteration), float64(s[len(s)-1].Iteration)
	y0, y1 := float64(s[0].FreeHeap), float64(s[0].FreeHeap)
	for _, p := range s {
		y0 = min(y0, float64(p.FreeHeap), float64(p.LargestFree))
		y1 = max(y1, float64(p.FreeHeap), float64(p.LargestFree))
	}
	if x1 == x0 {
		x1 = x0 + 1
	}
	if y1 == y0 {
		y0, y1 = y0-1, y1+1
	}
	pw, ph := chartWidth-chartLeft-chartRight, chartHeight-chartTop-chartBottom
	px := func(x float64) float64 { return chartLeft + (x-x0)/(x1-x0)*pw }
	py := func(y float64) float64 { return chartTop + (y1-y)/(y1-y0)*ph }
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="black"/>`+"\n", chartLeft, chartTop, pw, ph)
	axis := func(x, y float64, anchor, text string) {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="%s">%s</text>`+"\n", x, y, anchor, html.EscapeString(text))
	}
	axis(chartLeft, chartHeight-chartBottom+18, "start", fmt.Sprint(s[0].Iteration))
	axis(chartLeft+pw, chartHeight-chartBottom+18, "end", fmt.Sprint(s[len(s)-1].Iteration))
	axis(chartLeft+pw/2, chartHeight-12, "middle", "iteration")
	axis(chartLeft-6, chartTop+4, "end", fmt.Sprintf("%.0f", y1))
	axis(chartLeft-6, chartTop+ph, "end", fmt.Sprintf("%.0f", y0))
	axis(chartLeft-6, chartTop+ph/2, "end", "bytes")
	// Okabe–Ito blue and vermillion: they read in colour and in grey.
	for i, line := range []struct {
		name, color string
		y           func(HeapSample) int64
	}{
		{"free heap", "#0072b2", func(p HeapSample) int64 { return p.FreeHeap }},
		{"largest free block", "#d55e00", func(p HeapSample) int64 { return p.LargestFree }},
	} {
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="`, line.color)
		for k, p := range s {
			if k > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", px(float64(p.Iteration)), py(float64(line.y(p))))
		}
		b.WriteString(`"/>` + "\n")
		ly := chartTop + 16 + float64(i)*16
		fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="1.5"/>`+"\n", chartLeft+pw-170, ly-4, chartLeft+pw-150, ly-4, line.color)
		axis(chartLeft+pw-145, ly, "start", line.name)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
