package export

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/tinyprof/tinyprof/device/emu"
	"github.com/tinyprof/tinyprof/device/sim"
	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/lab/etcdstore"
	"github.com/tinyprof/tinyprof/serialport"
)

// Options configures Run.
type Options struct {
	// Store is the lab's etcd store, where the boards are published.
	// Required.
	Store *etcdstore.Store
	// Boards are the inventory's boards: those this host may have. A real
	// board is found by its USB serial number (Entry.ID) or its pinned
	// Port; a simulated one (sim: true) is started by the exporter and
	// served from its pseudo-terminal, for tests and demonstrations.
	// An emulated one (emulate: MACHINE) is started in QEMU by the
	// exporter and served from its UART's pseudo-terminal.
	Boards []lab.Entry
	// Advertise is the host name or address leasers reach ser2net at, in
	// each board's rfc2217:// address. Default: the host name.
	Advertise string
	// Listen is the address ser2net's accepters listen on. Default: every
	// interface.
	Listen string
	// BasePort is the TCP port of the first inventory board; the board at
	// index i of Boards gets BasePort+i, so a board keeps its port across
	// replugs and restarts. Default 3330.
	BasePort int
	// Ser2netConfig is the ser2net YAML file the exporter writes. Required.
	Ser2netConfig string
	// Reload, if set, is called after the configuration file changed, so
	// that ser2net reads it (systemctl reload ser2net, say).
	Reload func(ctx context.Context) error
	// Ser2net, if set, is the ser2net binary for the exporter to run as
	// its own child instead of Reload: started once the configuration is
	// first written, sent SIGHUP on every change after, and stopped when
	// Run returns.
	Ser2net string
	// Poll is how often the exporter looks for boards plugged in or out.
	// Default 2 s.
	Poll time.Duration
	// Ports lists the host's serial ports. Default serialport.Detect;
	// tests stand in fake USB serial numbers for pseudo-terminals.
	Ports func() ([]serialport.Info, error)
	// Logf, if set, receives a line for every board published or
	// withdrawn and every problem.
	Logf func(format string, args ...any)
}

func (o Options) withDefaults() (Options, error) {
	if o.Store == nil {
		return o, errors.New("export: no lab store (give --lab etcd://HOST:2379)")
	}
	if o.Ser2netConfig == "" {
		return o, errors.New("export: no ser2net configuration file")
	}
	if o.Ser2net != "" && o.Reload != nil {
		return o, errors.New("export: run ser2net as a child or reload it another way, not both")
	}
	if o.Advertise == "" {
		h, err := os.Hostname()
		if err != nil {
			return o, fmt.Errorf("export: name this host with --advertise: %w", err)
		}
		o.Advertise = h
	}
	if o.BasePort <= 0 {
		o.BasePort = 3330
	}
	if o.BasePort+len(o.Boards) > 65535 {
		return o, fmt.Errorf("export: ports %d to %d do not fit", o.BasePort, o.BasePort+len(o.Boards))
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.Ports == nil {
		o.Ports = serialport.Detect
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o, nil
}

// Run exports the boards until ctx ends, then withdraws every board it
// published (at once, by revoking its etcd lease) and returns nil, or the
// error that withdrawing met. It returns early only for a setup error: a
// simulated board that cannot start, a configuration file that cannot be
// written. Losing etcd for a while is not one: the boards are published
// again under a new lease when it is back.
func Run(ctx context.Context, opts Options) error {
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	sims := map[string]*sim.Board{}
	defer func() {
		for _, b := range sims {
			b.Close()
		}
	}()
	emus := map[string]*emu.Board{}
	defer func() {
		for _, b := range emus {
			b.Close()
		}
	}()
	for _, e := range o.Boards {
		switch e.Kind() {
		case lab.KindSimulated:
			b, err := sim.Listen(lab.SimOptions(e, sim.Options{}))
			if err != nil {
				return fmt.Errorf("export: start simulated board %s: %w", e.ID, err)
			}
			sims[e.ID] = b
		case lab.KindEmulated:
			b, err := emu.Listen(ctx, lab.EmuOptions(e, emu.Options{}))
			if err != nil {
				return fmt.Errorf("export: start emulated board %s: %w", e.ID, err)
			}
			emus[e.ID] = b
		}
	}
	if o.Ser2net != "" {
		var s2n *Ser2net
		defer func() {
			if s2n != nil {
				s2n.Close()
			}
		}()
		o.Reload = func(ctx context.Context) error {
			if s2n == nil {
				var err error
				s2n, err = StartSer2net(o.Ser2net, o.Ser2netConfig)
				return err
			}
			return s2n.Reload(ctx)
		}
	}
	x := &exporter{o: o, sims: sims, emus: emus, ready: map[string]string{}, absent: map[string]bool{}}
	defer func() {
		if x.pub != nil {
			if cerr := x.pub.Close(); cerr != nil && err == nil {
				err = cerr
			}
			o.Logf("withdrew every board")
		}
	}()
	for {
		if err := x.round(ctx); err != nil {
			return err
		}
		var lost <-chan struct{}
		if x.pub != nil {
			lost = x.pub.Lost()
		}
		t := time.NewTimer(o.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-lost:
			t.Stop()
			o.Logf("the exporter's etcd lease ended (cut off from etcd?): publishing again under a new one")
			x.pub.Close()
			x.pub = nil
		case <-t.C:
		}
	}
}

type exporter struct {
	o      Options
	sims   map[string]*sim.Board
	emus   map[string]*emu.Board
	pub    *etcdstore.Publisher
	config []byte
	// ready maps a board to the device ser2net was seen serving it from.
	ready  map[string]string
	absent map[string]bool // boards last found missing, to log changes only
}

// round finds the boards, brings ser2net's configuration up to date and
// publishes the boards ser2net serves.
func (x *exporter) round(ctx context.Context) error {
	o := x.o
	served := x.scan()
	cfg := Config(served, o.Listen)
	changed, err := WriteConfig(o.Ser2netConfig, cfg)
	if err != nil {
		return err
	}
	if changed && o.Reload != nil {
		if err := o.Reload(ctx); err != nil {
			o.Logf("reload ser2net: %v", err)
		}
	}
	var pubs []etcdstore.Published
	present := map[string]bool{}
	for _, s := range served {
		present[s.ID] = true
		if x.ready[s.ID] != s.Device {
			if !x.listening(ctx, s.Port) {
				continue // next round: ser2net has not taken the configuration yet
			}
			x.ready[s.ID] = s.Device
		}
		pubs = append(pubs, x.published(s))
	}
	for id := range x.ready {
		if !present[id] {
			delete(x.ready, id)
		}
	}
	if x.pub == nil {
		p, err := o.Store.Publisher(ctx)
		if err != nil {
			o.Logf("publish: %v (trying again in %v)", err, o.Poll)
			return nil
		}
		x.pub = p
	}
	before := x.pub.Published()
	if err := x.pub.Set(ctx, pubs); err != nil {
		o.Logf("publish: %v", err)
	}
	after := x.pub.Published()
	for _, id := range after {
		if !slices.Contains(before, id) {
			o.Logf("published %s at %s", id, x.published(servedOf(served, id)).Address)
		}
	}
	for _, id := range before {
		if !slices.Contains(after, id) {
			o.Logf("withdrew %s", id)
		}
	}
	return nil
}

func servedOf(served []Served, id string) Served {
	for _, s := range served {
		if s.ID == id {
			return s
		}
	}
	return Served{}
}

// scan returns the inventory boards present on this host now, in
// inventory order, each with its device and port, and logs the boards
// that went missing.
func (x *exporter) scan() []Served {
	o := x.o
	ports, err := o.Ports()
	if err != nil {
		o.Logf("list serial ports: %v", err)
	}
	served, missing := plan(o.Boards, ports, o.BasePort, func(e lab.Entry) string {
		if e.Kind() == lab.KindEmulated {
			return x.emus[e.ID].Path
		}
		return x.sims[e.ID].Path
	})
	gone := map[string]bool{}
	for _, id := range missing {
		gone[id] = true
		if !x.absent[id] {
			o.Logf("%s is not plugged in (no port with USB serial number %q)", id, id)
		}
	}
	x.absent = gone
	return served
}

// Plan returns what ser2net must serve of boards on a host whose serial
// ports are ports: each real board found by its USB serial number (or
// its pinned Port, if that exists), in inventory order, with the TCP
// port basePort plus its index; and the ids of the real boards missing.
// Simulated and emulated entries are left out: their devices exist only
// while an exporter runs them.
func Plan(boards []lab.Entry, ports []serialport.Info, basePort int) (served []Served, missing []string) {
	return plan(boards, ports, basePort, nil)
}

func plan(boards []lab.Entry, ports []serialport.Info, basePort int, started func(lab.Entry) string) (served []Served, missing []string) {
	bySerial := map[string]string{}
	for _, p := range ports {
		if p.SerialNumber != "" {
			bySerial[p.SerialNumber] = p.Path
		}
	}
	for i, e := range boards {
		var dev string
		switch e.Kind() {
		case lab.KindSimulated, lab.KindEmulated:
			if started == nil {
				continue
			}
			dev = started(e)
		case lab.KindReal:
			if e.Port != "" {
				if _, err := os.Stat(e.Port); err == nil {
					dev = e.Port
				}
			} else {
				dev = bySerial[e.ID]
			}
		}
		if dev == "" {
			missing = append(missing, e.ID)
			continue
		}
		served = append(served, Served{ID: e.ID, Device: dev, Port: basePort + i, Baud: e.Baud})
	}
	return served, missing
}

// listening reports whether ser2net accepts connections on port: a board
// is published only once it can be reached. It connects and hangs up at
// once; the board is not yet published, so no holder is kicked off.
func (x *exporter) listening(ctx context.Context, port int) bool {
	host := x.o.Listen
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func (x *exporter) published(s Served) etcdstore.Published {
	var e lab.Entry
	for _, b := range x.o.Boards {
		if b.ID == s.ID {
			e = b
		}
	}
	return etcdstore.Published{
		ID: e.ID, Platform: e.Platform, Protocol: e.Protocol, Features: e.Features,
		Firmware: e.Firmware, Baud: e.Baud, Meter: e.Meter,
		Address: "rfc2217://" + net.JoinHostPort(x.o.Advertise, strconv.Itoa(s.Port)),
		Host:    x.o.Advertise, Device: s.Device,
	}
}
