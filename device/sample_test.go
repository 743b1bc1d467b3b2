package device_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/firmware"
)

// TestMemorySampledDuringGeneration reads the board's memory while it
// generates in real time: the samples show the KV cache and activations
// held (less free than before and after), fall inside the generation on
// the board's clock, and do not change the tokens.
func TestMemorySampledDuringGeneration(t *testing.T) {
	d, b := open(t, sim.Options{Platform: "esp32s3", TimeScale: 1}, device.Options{})
	_, err := d.LoadModel(t.Context(), bytes.NewReader(tiny), int64(len(tiny)), device.LoadOptions{})
	require.NoError(t, err)
	before, err := d.Metrics(t.Context())
	require.NoError(t, err)

	// 16 tokens at about 19 tok/s take about 0.8 s of real time, in
	// batches of two tokens (every 100 ms of board time).
	req := device.GenerateRequest{Prompt: "Once upon a time", MaxTokens: 16, Seed: 3, SampleEvery: time.Millisecond}
	g, err := d.Generate(t.Context(), req)
	require.NoError(t, err)
	require.Len(t, g.Tokens, 16)
	assert.Zero(t, g.SamplesLost)
	assert.False(t, g.SamplingRefused)
	require.NotEmpty(t, g.Samples, "at least the answer to the read sent after the first batch")
	// At most one read per batch (every 100 ms of board time: two tokens
	// here), however small SampleEvery: each costs the board a heap walk.
	assert.LessOrEqual(t, len(g.Samples), 9, "reads are not sent back to back")

	// A read that reached the board after its last token is answered
	// after GEN_DONE, with the buffers already freed.
	start, end := g.Summary.StartUS, g.Tokens[len(g.Tokens)-1].TimeUS
	inside := 0
	for i, s := range g.Samples {
		assert.GreaterOrEqual(t, s.UptimeUS, start, "sample %d is after the generation started", i)
		if i > 0 {
			assert.GreaterOrEqual(t, s.UptimeUS, g.Samples[i-1].UptimeUS, "samples are in board order")
		}
		if s.UptimeUS <= end {
			inside++
			assert.Less(t, s.FreeHeap, before.FreeHeap, "sample %d: the generation's buffers are allocated", i)
		} else {
			assert.Equal(t, i, len(g.Samples)-1, "only the last sample may come after the last token")
			assert.Equal(t, before.FreeHeap, s.FreeHeap, "sample %d after the last token: the buffers are freed", i)
		}
	}
	assert.NotZero(t, inside, "a 0.8 s generation read every batch has samples inside it")

	after, err := d.Metrics(t.Context())
	require.NoError(t, err, "no stray answer is left for the next request")
	assert.Equal(t, before.FreeHeap, after.FreeHeap, "the buffers are freed at the end")

	// Every METRICS averages power since the previous one, so the readings
	// taken during the generation split its energy without losing any:
	// their sum is what the simulator dissipated.
	readings := append(append([]firmware.Metrics{*before}, g.Samples...), *after)
	var joules float64
	for i := 1; i < len(readings); i++ {
		require.True(t, readings[i].HasPower)
		joules += float64(readings[i].PowerUW) / 1e6 * float64(readings[i].UptimeUS-readings[i-1].UptimeUS) / 1e6
	}
	want, err := b.Energy(before.UptimeUS, after.UptimeUS)
	require.NoError(t, err)
	assert.InEpsilon(t, float64(want), joules, 1e-4, "energy summed over %d readings", len(readings)-1)

	// Without sampling the same seed generates the same tokens.
	req.SampleEvery = 0
	plain, err := d.Generate(t.Context(), req)
	require.NoError(t, err)
	assert.Empty(t, plain.Samples)
	for i := range plain.Tokens {
		require.Equal(t, plain.Tokens[i].ID, g.Tokens[i].ID)
	}
}

// TestSamplingRefused: firmware that answers reads during a generation
// with ERROR(BUSY) still generates; the host stops asking and says so.
func TestSamplingRefused(t *testing.T) {
	d, _ := open(t, sim.Options{Platform: "esp32s3", TimeScale: 0.25, Faults: sim.Faults{BusyMetrics: true}}, device.Options{})
	_, err := d.LoadModel(t.Context(), bytes.NewReader(tiny), int64(len(tiny)), device.LoadOptions{})
	require.NoError(t, err)
	// 48 tokens at a quarter of real time: about 0.6 s to send a read in.
	g, err := d.Generate(t.Context(), device.GenerateRequest{MaxTokens: 48, SampleEvery: time.Millisecond})
	require.NoError(t, err)
	assert.Len(t, g.Tokens, 48)
	assert.True(t, g.SamplingRefused)
	assert.Empty(t, g.Samples)
	_, err = d.Metrics(t.Context())
	require.NoError(t, err, "between generations the board answers")
}

// TestGiveUpCancels: a generation given up after its retries is
// cancelled, so the board is not left BUSY for the next request.
func TestGiveUpCancels(t *testing.T) {
	d, _ := open(t, sim.Options{Platform: "esp32s3", TimeScale: 0.1, Faults: sim.Faults{CorruptTxEvery: 4}}, device.Options{Timeout: 300 * time.Millisecond})
	_, err := d.LoadModel(t.Context(), bytes.NewReader(tiny), int64(len(tiny)), device.LoadOptions{})
	require.NoError(t, err)
	gaveUp := 0
	for i := range 4 {
		_, err := d.Generate(t.Context(), device.GenerateRequest{MaxTokens: 64, Seed: uint32(i)})
		var fe *firmware.Error
		require.False(t, errors.As(err, &fe) && fe.Code == firmware.CodeBusy, "generation %d met a board still busy with an abandoned one: %v", i, err)
		if errors.Is(err, device.ErrCRC) {
			gaveUp++
		}
	}
	require.NotZero(t, gaveUp, "with every 4th frame corrupted, a 64-token generation loses batches in every run")
}
