package etcdstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/lab/etcdstore/etcdtest"
)

// BenchmarkLabScale is the lab of many machines at scale on one machine:
// 100 boards published by 10 exporters (10 each, store-level entries with
// rfc2217:// addresses and no ports behind them: this measures leasing,
// not serial links), and 20 leasers, each with its own etcd client (its
// own Store, as a separate process would have; goroutines rather than
// processes, which two cores cannot run 30 of without measuring the
// scheduler). Each iteration is one lease by one of the leasers, which
// does what a hwtest lease does of the store — read the published
// boards, read their health (List), Acquire any one matching board in
// the queue, hold it (a millisecond, or 200 ms), Release — and the benchmark
// reports the acquire+release time (holding excluded) at p50 and p99,
// the longest wait against the mean, the fewest leases a leaser got
// against the fair share, and the etcd requests per lease (every unary
// call, keep-alives included, and every watch started).
//
// "spread": each lease asks for any board of one of 10 platforms (10
// boards each), so 20 leasers rarely meet; with one leaser it is the
// same run's baseline. "contended": every lease asks for any of the same
// 5 boards, so 20 leasers queue and a lease's time is mostly its wait in
// line.
//
// Back to back, 20 leasers saturate etcd on a small machine (each request
// then queues behind the others'); holding each board 200 ms they do not.
//
//	go test ./lab/etcdstore -run '^$' -bench LabScale -benchtime 2000x
func BenchmarkLabScale(b *testing.B) {
	c := etcdtest.StartCluster(b, 1, nil)
	const exporters, perExporter, leasers = 10, 10, 20
	var pubs []*Publisher
	for e := range exporters {
		s := scaleStore(b, c)
		p, err := s.Publisher(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		var boards []Published
		for i := range perExporter {
			n := e*perExporter + i
			boards = append(boards, Published{
				ID: fmt.Sprintf("board-%03d", n), Platform: fmt.Sprintf("plat%d", n%10), Protocol: lab.ProtocolTinyprof,
				Address: fmt.Sprintf("rfc2217://exporter%d:%d", e, 3330+i), Host: fmt.Sprintf("exporter%d", e), Device: fmt.Sprintf("/dev/ttyUSB%d", i),
			})
		}
		if err := p.Set(b.Context(), boards); err != nil {
			b.Fatal(err)
		}
		pubs = append(pubs, p)
	}
	b.Cleanup(func() {
		for _, p := range pubs {
			p.Close()
		}
	})
	stores := make([]*Store, leasers)
	for i := range stores {
		stores[i] = scaleStore(b, c)
	}
	spread := func(p Published, r int) bool { return p.Platform == fmt.Sprintf("plat%d", r%10) }
	for _, sc := range []struct {
		name    string
		leasers int
		hold    time.Duration
		want    func(p Published, r int) bool // r: the lease's random draw
	}{
		{"spread/leasers=1", 1, time.Millisecond, spread}, // the same run's baseline: one leaser alone
		{"spread/leasers=20", leasers, time.Millisecond, spread},
		// Holding each board 200 ms, as a short test would, 20 leasers ask
		// less of etcd than it serves, so a lease waits for no one's
		// requests but its own.
		{"spread/leasers=20/hold=200ms", leasers, 200 * time.Millisecond, spread},
		{"contended/leasers=20", leasers, time.Millisecond, func(p Published, r int) bool { return p.ID < "board-005" }},
	} {
		b.Run(sc.name, func(b *testing.B) {
			var left atomic.Int64
			left.Store(int64(b.N))
			type lease struct {
				took, wait time.Duration
			}
			per := make([][]lease, sc.leasers)
			var before int64
			for _, s := range stores[:sc.leasers] {
				before += s.Requests()
			}
			errs := make(chan error, sc.leasers)
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for i, s := range stores[:sc.leasers] {
				wg.Add(1)
				go func() {
					defer wg.Done()
					h := lab.Holder{PID: i, Host: fmt.Sprintf("leaser%d", i), Test: "BenchmarkLabScale"}
					for left.Add(-1) >= 0 {
						ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
						t0 := time.Now()
						all, err := s.Boards(ctx)
						if err == nil {
							_, err = s.List(ctx)
						}
						r := rand.N(1000)
						var ids []string
						for _, p := range all {
							if sc.want(p, r) {
								ids = append(ids, p.ID)
							}
						}
						if err == nil && len(ids) == 0 {
							err = fmt.Errorf("no published board matches (of %d published)", len(all))
						}
						var held []lab.Held
						if err == nil {
							held, err = s.Acquire(ctx, ids, 1, h)
						}
						if err != nil {
							cancel()
							errs <- err
							return
						}
						wait := time.Since(t0)
						time.Sleep(sc.hold)
						t1 := time.Now()
						err = held[0].Release()
						cancel()
						if err != nil {
							errs <- err
							return
						}
						per[i] = append(per[i], lease{took: wait + time.Since(t1), wait: wait})
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			var after int64
			for _, s := range stores[:sc.leasers] {
				after += s.Requests()
			}
			var took []time.Duration
			var sum, longest time.Duration
			fewest := b.N
			for _, ls := range per {
				fewest = min(fewest, len(ls))
				for _, l := range ls {
					took = append(took, l.took)
					sum += l.wait
					longest = max(longest, l.wait)
				}
			}
			slices.Sort(took)
			mean := sum / time.Duration(len(took))
			fair := float64(len(took)) / float64(sc.leasers)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
			b.ReportMetric(ms(took[len(took)*99/100]), "p99-ms")
			b.ReportMetric(float64(longest)/float64(mean), "longest/mean-wait")
			b.ReportMetric(float64(fewest)/fair, "fewest/fair-share")
			b.ReportMetric(float64(after-before)/float64(len(took)), "etcd-req/lease")
			b.ReportMetric(float64(len(took))/elapsed.Seconds(), "leases/s")
			b.ReportMetric(0, "ns/op")
			if fair >= 4 && float64(fewest) < fair/2 {
				b.Errorf("a leaser starved: %d leases against a fair share of %.1f", fewest, fair)
			}
		})
	}
}

// scaleStore is a store of the default TTL (10 s): the machine is loaded
// enough here that the tests' short TTL could end an exporter's lease.
func scaleStore(b *testing.B, c *etcdtest.Cluster) *Store {
	b.Helper()
	s, err := New(b.Context(), Options{Endpoints: c.Endpoints(), Lab: "scale"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
