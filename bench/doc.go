// Package bench makes a model on a microcontroller an ordinary go test
// job. Generate benchmarks generation under go test -bench, with every
// figure from the board's own clock and configuration lines that keep
// benchstat from mixing boards; CheckLeaks fails a test whose board loses
// heap across iterations (AnalyzeLeaks: Theil–Sen with one-off steps taken
// out); MLPerf scores an MLPerf Tiny board. Meters (PowerMeter over any
// power.Meter, or the board's own METRICS) give energy per token, and a
// Ledger owns how a generation's memory readings become energy.
//
// It is what a user's benchmark binary links, and it links no more: the
// CLI's profile report is package bench/report, the benchstat-style
// comparison and regression gates bench/compare, and the charts
// bench/chart. Figures from a simulated board are modelled, not measured,
// and say so.
package bench
