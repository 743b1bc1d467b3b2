package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/lab/etcdstore"
)

// A lab whose leases live in etcd: the same lab.Lab, another Store. It
// needs a running etcd, so it is compiled but not run.
func Example() {
	ctx := context.Background()
	opts, err := etcdstore.ParseURL("etcd://10.0.0.5:2379,10.0.0.6:2379,10.0.0.7:2379/bench-lab?ttl=10s")
	if err != nil {
		log.Fatal(err)
	}
	st, err := etcdstore.New(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	l := &lab.Lab{Boards: []lab.Entry{{ID: "sim-a", Platform: "esp32s3", Sim: true}}, Store: st}
	le, err := l.Acquire(ctx, "ExampleTest", lab.Request{Platform: "esp32s3"})
	if err != nil {
		log.Fatal(err)
	}
	defer le.Release()
	fmt.Println("leased", le.Entry.ID)
}

// A holder that loses its lease mid-test is told at once: cancel the work
// and report it as an infrastructure failure, not the test's.
func ExampleLease_Lost() {
	ctx := context.Background()
	st, err := etcdstore.New(ctx, etcdstore.Options{Endpoints: []string{"127.0.0.1:2379"}})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	host, _ := os.Hostname()
	le, err := st.Lease(ctx, "sim-a", lab.Holder{PID: os.Getpid(), Host: host, Test: "ExampleLease_Lost", Since: time.Now()})
	if err != nil {
		log.Fatal(err)
	}
	defer le.Release()

	work, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-le.Lost():
			cancel(fmt.Errorf("infrastructure: %w", le.Err()))
		case <-work.Done():
		}
	}()
	err = runOnBoard(work) // the test's body, on the leased board
	cancel(nil)
	if cause := context.Cause(work); errors.Is(cause, etcdstore.ErrLost) {
		fmt.Println(cause) // not the test's fault
	} else if err != nil {
		fmt.Println("test failed:", err)
	}
}

func runOnBoard(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}
