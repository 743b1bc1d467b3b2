package etcdstore

import (
	"slices"
	"testing"
	"time"

	"github.com/tinyprof/tinyprof/lab/etcdstore/etcdtest"
)

// BenchmarkAcquireRelease measures one uncontended lease and its release
// against a single etcd member on loopback: a grant, a transaction and a
// revoke (TryLease reads the queue first too). It reports the p50 and p99
// of the whole round trip.
func BenchmarkAcquireRelease(b *testing.B) {
	c := etcdtest.StartCluster(b, 1, nil)
	s := newStore(b, "bench", c.Endpoints()...)
	for _, bc := range []struct {
		name  string
		lease func() (*Lease, error)
	}{
		{"queue", func() (*Lease, error) { return s.Lease(b.Context(), "b", holder("bench")) }},
		{"try", func() (*Lease, error) { return s.TryLease(b.Context(), "b", holder("bench")) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				t0 := time.Now()
				l, err := bc.lease()
				if err != nil {
					b.Fatal(err)
				}
				if err := l.Release(); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(t0))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
