package devicetest_test

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/devicetest"
	"github.com/tinyprof/tinyprof/firmware"
)

// A board that lies about its peak heap, behind a line that loses the
// closing delimiter of the generation's summary: the client recovers the
// frame, and Problems marks the run invalid.
func Example() {
	h := devicetest.NewHonest()
	liar := func(r devicetest.Request) []devicetest.Send {
		out := h.Answer(r)
		for _, s := range out {
			if d, ok := s.Msg.(*firmware.GenDone); ok {
				d.PeakHeap = 3_972_844_748 // 3.7 GiB on a 512 KiB chip
			}
		}
		return out
	}
	host, boardEnd := devicetest.Pipe(devicetest.PipeOptions{})
	board := devicetest.NewBoard(boardEnd, liar, nil)
	defer board.Close()
	tr := devicetest.Drop(host, devicetest.ToHost, devicetest.FrameEnd(firmware.TypeGenDone, 1))
	d := device.New(tr, device.Options{Timeout: 100 * time.Millisecond})
	defer d.Close()

	ctx := context.Background()
	info, err := d.Hello(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	model := bytes.Repeat([]byte("weights "), 100)
	if _, err := d.LoadModel(ctx, bytes.NewReader(model), int64(len(model)), device.LoadOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	g, err := d.Generate(ctx, device.GenerateRequest{MaxTokens: 8})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(g.Tokens), "tokens")
	for _, p := range g.Problems(info, device.Envelope{}) {
		fmt.Println(p.Field)
	}
	// Output:
	// 8 tokens
	// gen_done.peak_heap
}
