package rfc2217

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// FuzzServerBytes feeds arbitrary bytes from a "server" to a Conn while a
// COM-PORT-OPTION command waits for its answer and a reader drains Read:
// whatever arrives, nothing panics or blocks past the command's timeout,
// and Close ends every goroutine (goleak checks in TestMain).
func FuzzServerBytes(f *testing.F) {
	f.Add([]byte{255, 253, 44, 255, 250, 44, 112, 3, 255, 240, 'o', 'k'})
	f.Add([]byte{255, 250, 44, 107, 0xb0, 255, 240, 255, 250, 44, 106, 0x60, 255, 240})
	f.Add([]byte{255, 250, 44, 100, 255, 240, 255, 250, 44, 105, 9, 255, 240})
	f.Add([]byte{255, 253, 1, 255, 251, 1, 255, 254, 0, 255, 250, 44, 255, 255})
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		c := newConn(client, "fuzz", Options{AckTimeout: 20 * time.Millisecond, ReadTimeout: 5 * time.Millisecond}.withDefaults())
		var wg sync.WaitGroup
		wg.Add(3)
		go func() { // the server reads our replies
			defer wg.Done()
			io.Copy(io.Discard, server)
		}()
		go func() {
			defer wg.Done()
			server.Write(in)
		}()
		go func() { // the application reads data
			defer wg.Done()
			buf := make([]byte, 512)
			for {
				n, err := c.Read(buf)
				if n == 0 && err == nil {
					t.Error("Read returned (0, nil)")
					return
				}
				if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					return
				}
			}
		}()
		_ = c.Purge(context.Background(), PurgeBoth)
		_, _ = c.ModemState()
		_, _ = c.LineState()
		c.Close()
		server.Close()
		wg.Wait()
	})
}
