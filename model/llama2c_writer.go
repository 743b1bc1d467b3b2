package model

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
)

// llama2cGroupSizes lists the group sizes WriteLlama2C tries for a version 2
// file, largest first; export.py starts at 64 and halves until the group
// divides dim.
var llama2cGroupSizes = []int{256, 128, 64, 32, 16, 8, 4, 2, 1}

// Llama2CGroupSizesFor returns the group sizes a version 2 export of c
// allows: powers of two that divide dim and every quantized tensor.
func Llama2CGroupSizesFor(c Llama2CConfig) []int {
	var ok []int
	for _, gs := range llama2cGroupSizes {
		if _, _, err := llama2cTensors(c, 2, gs); err == nil && c.Dim%gs == 0 {
			ok = append(ok, gs)
		}
	}
	slices.Sort(ok)
	return ok
}

// WriteLlama2C writes a llama2.c checkpoint of version 0 (legacy), 1 or 2
// to w. fill is called for each tensor in file order, in chunks: it must
// set dst to the tensor's elements starting at element off (row-major,
// PyTorch layout). Version 2 quantizes the matrices to int8 in groups of
// groupSize, as export.py's quantize_q80 does (scale = max|w|/127, round
// half to even); groupSize is ignored for versions 0 and 1. Memory use is
// one chunk, whatever the model size.
func WriteLlama2C(w io.Writer, c Llama2CConfig, version, groupSize int, fill func(name string, off int64, dst []float32)) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if version < 0 || version > 2 {
		return fmt.Errorf("llama2.c export version %d: use 0 (legacy), 1 (float32) or 2 (int8)", version)
	}
	if version == 2 {
		if !slices.Contains(Llama2CGroupSizesFor(c), groupSize) {
			return fmt.Errorf("llama2.c group size %d does not divide dim %d and every weight; allowed group sizes are %v", groupSize, c.Dim, Llama2CGroupSizesFor(c))
		}
	}
	ts, _, err := llama2cTensors(c, version, groupSize)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.Write(llama2cHeader(c, version, groupSize))
	const chunk = 1 << 16
	buf := make([]float32, chunk)
	out := make([]byte, 0, 4*chunk)
	var scales []byte
	for _, t := range ts {
		n := t.Elements()
		quant := t.Type == TypeI8
		scales = scales[:0]
		step := int64(chunk)
		if quant {
			step -= step % int64(groupSize)
		}
		for off := int64(0); off < n; off += step {
			m := min(step, n-off)
			fill(t.Name, off, buf[:m])
			out = out[:0]
			if quant {
				out, scales = quantizeQ80Groups(out, scales, buf[:m], groupSize)
			} else {
				for _, v := range buf[:m] {
					out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
				}
			}
			if _, err := bw.Write(out); err != nil {
				return err
			}
		}
		if _, err := bw.Write(scales); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// quantizeQ80Groups appends the int8 values of src to q and the float32
// scales to s, per export.py's quantize_q80.
func quantizeQ80Groups(q, s []byte, src []float32, gs int) ([]byte, []byte) {
	for g := 0; g < len(src); g += gs {
		grp := src[g : g+gs]
		var wmax float32
		for _, v := range grp {
			wmax = max(wmax, abs32(v))
		}
		scale := wmax / 127
		for _, v := range grp {
			var iv int8
			if scale != 0 {
				iv = int8(math.RoundToEven(float64(v / scale)))
			}
			q = append(q, byte(iv))
		}
		s = binary.LittleEndian.AppendUint32(s, math.Float32bits(scale))
	}
	return q, s
}
