package llama

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/tinyprof/tinyprof/model"
)

// Runner holds one sequence's state: activations and the KV cache for up
// to Context positions. It is not safe for concurrent use; run one per
// goroutine.
type Runner struct {
	m                              *Model
	ctx                            int
	x, xb, xb2, q, hb, hb2, att    []float32
	logits, kc, vc, freq, cos, sin []float32
}

// ErrArg reports a token outside the vocabulary, a position outside the
// context, or a prompt longer than the context.
var ErrArg = errors.New("llama: argument out of range")

// NewRunner returns a Runner for ctx positions: 0 means the model's
// sequence length, and larger values are clamped to it, as the C runtime
// does. It allocates the KV cache, Layers × ctx × KVDim × 2 float32.
func (m *Model) NewRunner(ctx int) *Runner {
	c := m.cfg
	if ctx <= 0 || ctx > c.SeqLen {
		ctx = c.SeqLen
	}
	half := c.HeadDim / 2
	r := &Runner{
		m: m, ctx: ctx,
		x: make([]float32, c.Dim), xb: make([]float32, c.Dim), xb2: make([]float32, c.Dim), q: make([]float32, c.Dim),
		hb: make([]float32, c.Hidden), hb2: make([]float32, c.Hidden), att: make([]float32, ctx),
		logits: make([]float32, c.Vocab),
		kc:     make([]float32, c.Layers*ctx*c.KVDim()), vc: make([]float32, c.Layers*ctx*c.KVDim()),
		freq: make([]float32, half), cos: make([]float32, half), sin: make([]float32, half),
	}
	// θ_i = base^(-2i/head_dim) = exp(-(2i/head_dim) ln base).
	lnb := Log(c.RopeBase)
	for i := range r.freq {
		r.freq[i] = Exp(-mul(float32(2*i)/float32(c.HeadDim), lnb))
	}
	return r
}

// Context returns the number of positions the Runner holds.
func (r *Runner) Context() int { return r.ctx }

// Forward runs token at position pos (positions must be run in order from
// 0) and returns the next-token logits, valid until the next call.
func (r *Runner) Forward(token uint32, pos int) ([]float32, error) {
	m, c := r.m, r.m.cfg
	if int64(token) >= int64(c.Vocab) || pos < 0 || pos >= r.ctx {
		return nil, fmt.Errorf("%w: token %d at position %d (vocabulary %d, context %d)", ErrArg, token, pos, c.Vocab, r.ctx)
	}
	d, kvd := c.Dim, c.KVDim()
	m.row(m.emb, int(token), r.x)
	for i := range r.freq {
		r.sin[i], r.cos[i] = SinCos(mul(float32(pos), r.freq[i]))
	}
	for l := range m.layers {
		L := &m.layers[l]
		base := (l*r.ctx + pos) * kvd
		k, v := r.kc[base:base+kvd], r.vc[base:base+kvd]
		m.rmsnorm(r.xb, r.x, L.attnNorm)
		m.matmul(r.q, r.xb, L.wq)
		m.matmul(k, r.xb, L.wk)
		m.matmul(v, r.xb, L.wv)
		r.rope(r.q)
		r.rope(k)
		r.attention(l, pos)
		m.matmul(r.xb2, r.xb, L.wo)
		for i := range d {
			r.x[i] += r.xb2[i]
		}
		m.rmsnorm(r.xb, r.x, L.ffnNorm)
		m.matmul(r.hb, r.xb, L.w1)
		m.matmul(r.hb2, r.xb, L.w3)
		for i, g := range r.hb { // SwiGLU: silu(w1 x) * (w3 x)
			r.hb[i] = mul(g/float32(1+Exp(-g)), r.hb2[i])
		}
		m.matmul(r.xb, r.hb, L.w2)
		for i := range d {
			r.x[i] += r.xb[i]
		}
	}
	m.rmsnorm(r.x, r.x, m.outNorm)
	m.matmul(r.logits, r.x, m.cls)
	return r.logits, nil
}

// rope rotates each adjacent pair of every head of v.
func (r *Runner) rope(v []float32) {
	hd := r.m.cfg.HeadDim
	for h := 0; h < len(v); h += hd {
		p := v[h : h+hd]
		for i := range hd / 2 {
			a, b, c, s := p[2*i], p[2*i+1], r.cos[i], r.sin[i]
			p[2*i] = mul(a, c) - mul(b, s)
			p[2*i+1] = mul(a, s) + mul(b, c)
		}
	}
}

func (r *Runner) attention(l, pos int) {
	c := r.m.cfg
	hd, kvd, group := c.HeadDim, c.KVDim(), c.Heads/c.KVHeads
	kl, vl := r.kc[l*r.ctx*kvd:], r.vc[l*r.ctx*kvd:]
	scale := Sqrt(float32(hd))
	att := r.att[:pos+1]
	for h := range c.Heads {
		q := r.q[h*hd : (h+1)*hd]
		kh := h / group * hd
		out := r.xb[h*hd : (h+1)*hd]
		for t := range att {
			k := kl[t*kvd+kh : t*kvd+kh+hd]
			var s float32
			for i, qi := range q {
				s += mul(qi, k[i])
			}
			att[t] = s / scale
		}
		softmax(att)
		clear(out)
		for t, w := range att {
			v := vl[t*kvd+kh : t*kvd+kh+hd]
			for i := range out {
				out[i] += mul(w, v[i])
			}
		}
	}
}

// softmax replaces x by exp(x - max) / sum, summing in index order.
func softmax(x []float32) {
	mx := x[0]
	for _, v := range x[1:] {
		if v > mx {
			mx = v
		}
	}
	var sum float32
	for i, v := range x {
		x[i] = Exp(v - mx)
		sum += x[i]
	}
	for i := range x {
		x[i] /= sum
	}
}

func (m *Model) f32(off int) float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(m.data[off:]))
}

func (m *Model) half(off int) float32 { return half(binary.LittleEndian.Uint16(m.data[off:])) }

// dot returns row r of t (len(x) values) times x, summed in index order.
func (m *Model) dot(t tensor, r int, x []float32) float32 {
	n := len(x)
	var acc float32
	switch t.enc {
	case encF32:
		p := t.off + r*n*4
		for j, xj := range x {
			acc += mul(m.f32(p+4*j), xj)
		}
	case encQ8_0:
		p := t.off + r*(n/32)*34
		for b := 0; b < n; b, p = b+32, p+34 {
			d := m.half(p)
			q := m.data[p+2 : p+34]
			for j := range 32 {
				acc += mul(mul(float32(int8(q[j])), d), x[b+j])
			}
		}
	case encQ4_0:
		p := t.off + r*(n/32)*18
		for b := 0; b < n; b, p = b+32, p+18 {
			d := m.half(p)
			q := m.data[p+2 : p+18]
			for j := range 16 {
				acc += mul(mul(float32(int(q[j]&15)-8), d), x[b+j])
			}
			for j := range 16 {
				acc += mul(mul(float32(int(q[j]>>4)-8), d), x[b+16+j])
			}
		}
	case encI8G: // groups run across rows
		gs := m.cfg.GroupSize
		idx := r * n
		g, left := idx/gs, gs-idx%gs
		sc := m.f32(t.soff + 4*g)
		q := m.data[t.off+idx : t.off+idx+n]
		for j, xj := range x {
			if left == 0 {
				g++
				sc, left = m.f32(t.soff+4*g), gs
			}
			acc += mul(mul(float32(int8(q[j])), sc), xj)
			left--
		}
	case encGW: // as groups, without a call per weight
		g := t.gw
		bb, o, hdr := gwLayout(g)
		mask := byte(1)<<g.Bits - 1
		p := t.off + r*(n/g.Group)*bb
		for b := 0; b < n; b, p = b+g.Group, p+bb {
			d, mn := m.half(p), float32(0)
			if g.Asym {
				mn = m.half(p + 2)
			}
			j := b
			for _, c := range m.data[p+hdr : p+bb] {
				for k := 0; k < 8; k += g.Bits {
					acc += mul(float32(mul(float32(int32(c>>k&mask)-o), d))+mn, x[j])
					j++
				}
			}
		}
	}
	return acc
}

// gwLayout returns a group-wise block's bytes, code offset and header
// bytes.
func gwLayout(g model.Groupwise) (bb int, o int32, hdr int) {
	if g.Asym {
		return 4 + g.Group*g.Bits/8, 0, 4
	}
	return 2 + g.Group*g.Bits/8, int32(1) << (g.Bits - 1), 2
}

// groups calls f with the index and value of each weight of row r (n
// weights) of a group-wise tensor, in index order: (code − o)·d + m, the
// product rounded before the add (model/GROUPWISE.md).
func (m *Model) groups(t tensor, r, n int, f func(j int, w float32)) {
	g := t.gw
	bb, o, hdr := gwLayout(g)
	mask := byte(1)<<g.Bits - 1
	p := t.off + r*(n/g.Group)*bb
	for b := 0; b < n; b, p = b+g.Group, p+bb {
		d, mn := m.half(p), float32(0)
		if g.Asym {
			mn = m.half(p + 2)
		}
		j := b
		for _, c := range m.data[p+hdr : p+bb] {
			for k := 0; k < 8; k += g.Bits {
				f(j, float32(mul(float32(int32(c>>k&mask)-o), d))+mn)
				j++
			}
		}
	}
}

// row expands row r of t into out.
func (m *Model) row(t tensor, r int, out []float32) {
	n := len(out)
	switch t.enc {
	case encF32:
		p := t.off + r*n*4
		for j := range out {
			out[j] = m.f32(p + 4*j)
		}
	case encQ8_0:
		p := t.off + r*(n/32)*34
		for b := 0; b < n; b, p = b+32, p+34 {
			d := m.half(p)
			for j := range 32 {
				out[b+j] = mul(float32(int8(m.data[p+2+j])), d)
			}
		}
	case encQ4_0:
		p := t.off + r*(n/32)*18
		for b := 0; b < n; b, p = b+32, p+18 {
			d := m.half(p)
			for j := range 16 {
				q := m.data[p+2+j]
				out[b+j] = mul(float32(int(q&15)-8), d)
				out[b+16+j] = mul(float32(int(q>>4)-8), d)
			}
		}
	case encI8G:
		gs, idx := m.cfg.GroupSize, r*n
		for j := range out {
			out[j] = mul(float32(int8(m.data[t.off+idx+j])), m.f32(t.soff+4*((idx+j)/gs)))
		}
	case encGW:
		m.groups(t, r, n, func(j int, w float32) { out[j] = w })
	}
}

// matmul sets out[i] to row i of t times x.
func (m *Model) matmul(out, x []float32, t tensor) {
	for i := range out {
		out[i] = m.dot(t, i, x)
	}
}

// rmsnorm sets out = w ⊙ (x / sqrt(mean(x²) + eps)); out may be x.
func (m *Model) rmsnorm(out, x []float32, w tensor) {
	var ss float32
	for _, v := range x {
		ss += mul(v, v)
	}
	ss /= float32(len(x))
	ss += m.cfg.Eps
	inv := 1 / Sqrt(ss)
	for j, v := range x {
		out[j] = mul(m.f32(w.off+4*j), mul(inv, v))
	}
}
