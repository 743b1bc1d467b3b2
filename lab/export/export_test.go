package export_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/tinyprof/tinyprof/device"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/lab/etcdstore"
	"github.com/tinyprof/tinyprof/lab/etcdstore/etcdtest"
	"github.com/tinyprof/tinyprof/lab/export"
	"github.com/tinyprof/tinyprof/serialport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ser2netBin returns the ser2net binary, skipping the test (failing it
// under TINYPROF_REQUIRE_LAB) when it is not installed.
func ser2netBin(tb testing.TB) string {
	tb.Helper()
	return etcdtest.Require(tb, export.FindSer2net)
}

// fakeUSB stands in for the host's USB serial ports: serial numbers
// mapped to pseudo-terminals of simulated boards, plugged in and out by
// the test.
type fakeUSB struct {
	mu    sync.Mutex
	ports map[string]string // serial number → path
}

func (f *fakeUSB) plug(serial, path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if path == "" {
		delete(f.ports, serial)
		return
	}
	f.ports[serial] = path
}

func (f *fakeUSB) list() ([]serialport.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []serialport.Info
	for s, p := range f.ports {
		out = append(out, serialport.Info{Path: p, USB: true, SerialNumber: s})
	}
	return out, nil
}

// runExport runs the exporter with opts until the test ends or stop is
// called; stop ends it and returns what Run returned.
func runExport(t *testing.T, opts export.Options) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- export.Run(ctx, opts) }()
	stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() { stop() })
	return stop
}

// waitBoards waits until the lab's published boards are want, by id →
// device ("" for any device), and returns them.
func waitBoards(t *testing.T, st *etcdstore.Store, want map[string]string) []etcdstore.Published {
	t.Helper()
	var got []etcdstore.Published
	var diff string
	require.Eventually(t, func() bool {
		var err error
		got, err = st.Boards(t.Context())
		if err != nil {
			return false
		}
		have := map[string]string{}
		for _, p := range got {
			have[p.ID] = p.Device
			if want[p.ID] == "" {
				have[p.ID] = ""
			}
		}
		diff = cmp.Diff(want, have)
		return diff == ""
	}, 20*time.Second, 20*time.Millisecond, "published boards (-want +got):\n%s", func() string { return diff }())
	return got
}

// ping opens a published board over RFC 2217 and asks it for a ping.
func ping(t *testing.T, p etcdstore.Published) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	dev, err := device.Open(ctx, p.Address, device.Options{Timeout: 2 * time.Second})
	require.NoError(t, err, "open %s", p.Address)
	defer dev.Close()
	info, err := dev.Hello(ctx)
	require.NoError(t, err, "hello over %s", p.Address)
	require.NotEmpty(t, info.Firmware)
	_, err = dev.Ping(ctx, []byte("through ser2net"))
	require.NoError(t, err)
}

// An exporter in front of the real ser2net publishes a simulated board it
// starts and a "USB" board found by serial number, both reachable over RFC
// 2217; withdraws the USB board when it is unplugged and republishes it
// when it comes back on another port; and leaves nothing behind when it
// stops.
func TestExportPublishesWithdrawsRepublishes(t *testing.T) {
	bin := ser2netBin(t)
	srv := etcdtest.Start(t)
	st, err := etcdstore.New(t.Context(), etcdstore.Options{Endpoints: []string{srv.Endpoint}, Lab: "export", TTL: 3 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })

	usb := &fakeUSB{ports: map[string]string{}}
	first, err := sim.Listen(sim.Options{Platform: "esp32s3"})
	require.NoError(t, err)
	t.Cleanup(func() { first.Close() })
	usb.plug("SER-A", first.Path)

	cfg := filepath.Join(t.TempDir(), "ser2net.yaml")
	stop := runExport(t, export.Options{
		Store: st,
		Boards: []lab.Entry{
			{ID: "SER-A", Platform: "esp32s3", Features: []string{"psram"}},
			{ID: "sim-b", Platform: "esp32s3", Sim: true},
		},
		Advertise: "127.0.0.1", Listen: "127.0.0.1", BasePort: etcdtest.PortRun(t, 2),
		Ser2netConfig: cfg, Poll: 50 * time.Millisecond, Ports: usb.list,
		Ser2net: bin,
		Logf:    t.Logf,
	})

	boards := waitBoards(t, st, map[string]string{"SER-A": first.Path, "sim-b": ""})
	for _, p := range boards {
		require.Regexp(t, `^rfc2217://127\.0\.0\.1:\d+$`, p.Address)
		ping(t, p)
	}
	require.Equal(t, []string{"psram"}, boards[0].Features)
	data, err := os.ReadFile(cfg)
	require.NoError(t, err)
	require.Contains(t, string(data), "accepter: telnet(rfc2217),tcp,127.0.0.1,")
	require.Contains(t, string(data), "connector: serialdev,"+first.Path+",115200n81,local")
	require.Contains(t, string(data), "chardelay: false")

	usb.plug("SER-A", "") // unplugged
	waitBoards(t, st, map[string]string{"sim-b": boards[1].Device})

	second, err := sim.Listen(sim.Options{Platform: "esp32s3"})
	require.NoError(t, err)
	t.Cleanup(func() { second.Close() })
	usb.plug("SER-A", second.Path) // back, on another port
	boards = waitBoards(t, st, map[string]string{"SER-A": second.Path, "sim-b": boards[1].Device})
	ping(t, boards[0])

	// The exporter's etcd lease ends under it (as when it is cut off from
	// etcd for a TTL): its boards vanish, and it publishes them again
	// under a new lease.
	g, err := st.Client().Get(t.Context(), "/tinyprof/export/inventory/sim-b")
	require.NoError(t, err)
	require.Len(t, g.Kvs, 1)
	_, err = st.Client().Revoke(t.Context(), clientv3.LeaseID(g.Kvs[0].Lease))
	require.NoError(t, err)
	boards = waitBoards(t, st, map[string]string{"SER-A": second.Path, "sim-b": boards[1].Device})
	g, err = st.Client().Get(t.Context(), "/tinyprof/export/inventory/sim-b")
	require.NoError(t, err)
	require.NotEmpty(t, g.Kvs)

	require.NoError(t, stop())
	left, err := st.Boards(t.Context())
	require.NoError(t, err)
	require.Empty(t, left, "the exporter left entries behind")
}

// An emulated board — tinyprof's firmware in QEMU — is exported as a
// simulated one is: started by the exporter, served by the real ser2net
// from its UART's pty, and reached over RFC 2217, where it still says it
// is emulated.
func TestExportEmulatedBoard(t *testing.T) {
	lab.NeedEmulation(t)
	bin := ser2netBin(t)
	srv := etcdtest.Start(t)
	st, err := etcdstore.New(t.Context(), etcdstore.Options{Endpoints: []string{srv.Endpoint}, Lab: "emu"})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	cfg := filepath.Join(t.TempDir(), "ser2net.yaml")
	stop := runExport(t, export.Options{
		Store:     st,
		Boards:    []lab.Entry{{ID: "emu-1", Platform: "mps2-an386", Emulate: "mps2-an386"}},
		Advertise: "127.0.0.1", Listen: "127.0.0.1", BasePort: etcdtest.PortRun(t, 1),
		Ser2netConfig: cfg, Poll: 100 * time.Millisecond,
		Ser2net: bin,
		Logf:    t.Logf,
	})
	boards := waitBoards(t, st, map[string]string{"emu-1": ""})

	dctx, dcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer dcancel()
	dev, err := device.Open(dctx, boards[0].Address, device.Options{Timeout: 5 * time.Second})
	require.NoError(t, err)
	defer dev.Close()
	info, err := dev.Hello(dctx)
	require.NoError(t, err)
	require.True(t, info.Capabilities.Emulated(), "the board says it is emulated over RFC 2217 too")
	require.Equal(t, "mps2-an386", info.Platform)
	_, err = dev.Ping(dctx, []byte("through ser2net to QEMU"))
	require.NoError(t, err)
	require.NoError(t, dev.Close())

	require.NoError(t, stop())
}

// Options that cannot run are refused before anything starts.
func TestRunRefusesBadOptions(t *testing.T) {
	reload := func(context.Context) error { return nil }
	for _, tt := range []struct {
		name string
		o    export.Options
		err  string
	}{
		{"no store", export.Options{Ser2netConfig: "x.yaml"}, "no lab store"},
		{"no configuration file", export.Options{Store: &etcdstore.Store{}}, "no ser2net configuration file"},
		{"two ways to reload", export.Options{Store: &etcdstore.Store{}, Ser2netConfig: "x.yaml", Ser2net: "ser2net", Reload: reload}, "not both"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorContains(t, export.Run(t.Context(), tt.o), tt.err)
		})
	}
}
