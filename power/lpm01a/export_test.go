package lpm01a

import "github.com/tinyprof/tinyprof/power"

// TestDecoder runs the stream decoder without a port.
type TestDecoder struct{ m *Meter }

func NewDecoderForTest(f Format, rate int) TestDecoder {
	return TestDecoder{&Meter{opts: Options{Format: f, Rate: rate, Supply: 3.3}, running: true}}
}

func (d TestDecoder) Feed(b []byte) ([]power.Sample, error) {
	d.m.pending = append(d.m.pending, b...)
	err := d.m.decode()
	return d.m.ready, err
}
