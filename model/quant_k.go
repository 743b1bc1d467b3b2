package model

import (
	"encoding/binary"
	"math"
)

// The K-quant encoders port quantize_row_q2_K_ref and quantize_row_q4_K_ref
// with their helpers nearest_int, make_qkx2_quants and get_scale_min_k4
// from ggml-org/llama.cpp ggml/src/ggml-quants.c. Block layouts
// (ggml-common.h): block_q2_K = scales[16], qs[64], d, dmin (84 bytes);
// block_q4_K = d, dmin, scales[12], qs[128] (144 bytes).

const qkK = 256

// nearestInt rounds to nearest, ties to even, with ggml's float trick.
// Callers pass products through float32() so that, once inlined, the add
// here cannot fuse with their multiply (see quant.go).
func nearestInt(f float32) int {
	val := f + 12582912
	i := int32(math.Float32bits(val))
	return int(i&0x007fffff) - 0x00400000
}

// makeQKX2Quants fits x ≈ scale·L − min with L in [0, nmax], searching
// nstep+1 candidate scales (make_qkx2_quants).
func makeQKX2Quants(nmax int, x, weights []float32, L, laux []uint8, rmin, rdelta float32, nstep int, useMAD bool) (scale, theMin float32) {
	n := len(x)
	mn, mx := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		if x[i] < mn {
			mn = x[i]
		}
		if x[i] > mx {
			mx = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if mn > 0 {
		mn = 0
	}
	if mx == mn {
		for i := range L[:n] {
			L[i] = 0
		}
		return 0, -mn
	}
	iscale := float32(nmax) / (mx - mn)
	scale = 1 / iscale
	var bestError float32
	for i := range n {
		l := nearestInt(float32(iscale * (x[i] - mn)))
		L[i] = uint8(max(0, min(nmax, l)))
		diff := float32(scale*float32(L[i])) + mn - x[i]
		if useMAD {
			diff = abs32(diff)
		} else {
			diff = float32(diff * diff)
		}
		bestError += float32(weights[i] * diff)
	}
	if nstep < 1 {
		return scale, -mn
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + float32(rdelta*float32(is)) + float32(nmax)) / (mx - mn)
		var sumL, sumL2, sumXL float32
		for i := range n {
			l := nearestInt(float32(iscale * (x[i] - mn)))
			l = max(0, min(nmax, l))
			laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			sumL += float32(w * fl)
			sumL2 += float32(float32(w*fl) * fl)
			sumXL += float32(float32(w*fl) * x[i])
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var curError float32
			for i := range n {
				diff := float32(thisScale*float32(laux[i])) + thisMin - x[i]
				if useMAD {
					diff = abs32(diff)
				} else {
					diff = float32(diff * diff)
				}
				curError += float32(weights[i] * diff)
			}
			if curError < bestError {
				copy(L[:n], laux[:n])
				bestError = curError
				scale = thisScale
				mn = thisMin
			}
		}
	}
	return scale, -mn
}

func quantizeQ2K(out []byte, x []float32) {
	var L [qkK]uint8
	var laux [16]uint8
	var weights [16]float32
	var mins, scales [qkK / 16]float32
	const q4scale = 15
	for len(x) >= qkK {
		y := out[:84:84]
		sc := y[0:16]
		qs := y[16:80]
		var maxScale, maxMin float32
		for j := range qkK / 16 {
			for l := range 16 {
				weights[l] = abs32(x[16*j+l])
			}
			scales[j], mins[j] = makeQKX2Quants(3, x[16*j:16*j+16], weights[:], L[16*j:16*j+16], laux[:], -0.5, 0.1, 15, true)
			maxScale = max(maxScale, scales[j])
			maxMin = max(maxMin, mins[j])
		}
		if maxScale > 0 {
			iscale := q4scale / maxScale
			for j := range qkK / 16 {
				sc[j] = uint8(nearestInt(float32(iscale * scales[j])))
			}
			binary.LittleEndian.PutUint16(y[80:], fp32ToFP16(maxScale/q4scale))
		} else {
			for j := range sc {
				sc[j] = 0
			}
			binary.LittleEndian.PutUint16(y[80:], fp32ToFP16(0))
		}
		if maxMin > 0 {
			iscale := q4scale / maxMin
			for j := range qkK / 16 {
				sc[j] |= uint8(nearestInt(float32(iscale*mins[j])) << 4)
			}
			binary.LittleEndian.PutUint16(y[82:], fp32ToFP16(maxMin/q4scale))
		} else {
			binary.LittleEndian.PutUint16(y[82:], fp32ToFP16(0))
		}
		dd := fp16ToFP32(binary.LittleEndian.Uint16(y[80:]))
		dmin := fp16ToFP32(binary.LittleEndian.Uint16(y[82:]))
		for j := range qkK / 16 {
			d := float32(dd * float32(sc[j]&0xF))
			if d == 0 {
				continue
			}
			dm := float32(dmin * float32(sc[j]>>4))
			for ii := range 16 {
				l := nearestInt((x[16*j+ii] + dm) / d)
				L[16*j+ii] = uint8(max(0, min(3, l)))
			}
		}
		for j := 0; j < qkK; j += 128 {
			for l := range 32 {
				qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
			}
		}
		x, out = x[qkK:], out[84:]
	}
}

func quantizeQ4K(out []byte, x []float32) {
	var L [qkK]uint8
	var laux [32]uint8
	var weights [32]float32
	var mins, scales [qkK / 32]float32
	for len(x) >= qkK {
		y := out[:144:144]
		sc := y[4:16]
		q := y[16:144]
		var maxScale, maxMin float32
		for j := range qkK / 32 {
			var sumX2 float32
			for l := range 32 {
				sumX2 += float32(x[32*j+l] * x[32*j+l])
			}
			avX := float32(math.Sqrt(float64(sumX2 / 32)))
			for l := range 32 {
				weights[l] = avX + abs32(x[32*j+l])
			}
			scales[j], mins[j] = makeQKX2Quants(15, x[32*j:32*j+32], weights[:], L[32*j:32*j+32], laux[:], -1, 0.1, 20, false)
			maxScale = max(maxScale, scales[j])
			maxMin = max(maxMin, mins[j])
		}
		var invScale, invMin float32
		if maxScale > 0 {
			invScale = 63 / maxScale
		}
		if maxMin > 0 {
			invMin = 63 / maxMin
		}
		for j := range qkK / 32 {
			ls := min(63, uint8(nearestInt(float32(invScale*scales[j]))))
			lm := min(63, uint8(nearestInt(float32(invMin*mins[j]))))
			if j < 4 {
				sc[j] = ls
				sc[j+4] = lm
			} else {
				sc[j+4] = ls&0xF | (lm&0xF)<<4
				sc[j-4] |= (ls >> 4) << 6
				sc[j] |= (lm >> 4) << 6
			}
		}
		binary.LittleEndian.PutUint16(y[0:], fp32ToFP16(maxScale/63))
		binary.LittleEndian.PutUint16(y[2:], fp32ToFP16(maxMin/63))
		dd := fp16ToFP32(binary.LittleEndian.Uint16(y[0:]))
		dmin := fp16ToFP32(binary.LittleEndian.Uint16(y[2:]))
		for j := range qkK / 32 {
			s, m := scaleMinK4(j, sc)
			d := float32(dd * float32(s))
			if d == 0 {
				continue
			}
			dm := float32(dmin * float32(m))
			for ii := range 32 {
				l := nearestInt((x[32*j+ii] + dm) / d)
				L[32*j+ii] = uint8(max(0, min(15, l)))
			}
		}
		for j, k := 0, 0; j < qkK; j, k = j+64, k+32 {
			for l := range 32 {
				q[k+l] = L[j+l] | L[j+l+32]<<4
			}
		}
		x, out = x[qkK:], out[144:]
	}
}

// scaleMinK4 is get_scale_min_k4.
func scaleMinK4(j int, q []byte) (d, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xF | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// decodeQ2K follows dequantize_row_q2_K.
func decodeQ2K(dst []float32, b []byte) []float32 {
	d := fp16ToFP32(binary.LittleEndian.Uint16(b[80:]))
	mn := fp16ToFP32(binary.LittleEndian.Uint16(b[82:]))
	q := b[16:80]
	is := 0
	for n := 0; n < qkK; n += 128 {
		shift := 0
		for range 4 {
			for half := range 2 {
				sc := b[is]
				is++
				dl, ml := d*float32(sc&0xF), mn*float32(sc>>4)
				for l := range 16 {
					dst = append(dst, float32(dl*float32((q[l+16*half]>>shift)&3))-ml)
				}
			}
			shift += 2
		}
		q = q[32:]
	}
	return dst
}

// decodeQ4K follows dequantize_row_q4_K.
func decodeQ4K(dst []float32, b []byte) []float32 {
	d := fp16ToFP32(binary.LittleEndian.Uint16(b[0:]))
	mn := fp16ToFP32(binary.LittleEndian.Uint16(b[2:]))
	sc := b[4:16]
	q := b[16:]
	is := 0
	for j := 0; j < qkK; j += 64 {
		s, m := scaleMinK4(is, sc)
		d1, m1 := d*float32(s), mn*float32(m)
		s, m = scaleMinK4(is+1, sc)
		d2, m2 := d*float32(s), mn*float32(m)
		for l := range 32 {
			dst = append(dst, float32(d1*float32(q[l]&0xF))-m1)
		}
		for l := range 32 {
			dst = append(dst, float32(d2*float32(q[l]>>4))-m2)
		}
		q = q[32:]
		is += 2
	}
	return dst
}
