// Package rfc2217 is a client for serial ports served over the network by
// an RFC 2217 server such as ser2net (accepter telnet(rfc2217)) or
// pyserial's PortManager: rfc2217://HOST:PORT.
//
// Dial connects, negotiates telnet BINARY both ways, SUPPRESS-GO-AHEAD and
// COM-PORT-OPTION (option 44), sets the line (baud rate, data bits, parity,
// stop bits), waits for the server to acknowledge each setting, and purges
// the server's buffers. The Conn it returns satisfies device.Transport:
// Read returns a timeout error after about 100 ms of quiet, never (0, nil),
// and Close unblocks Read and Write. HardReset drives DTR and RTS through
// SET-CONTROL, so an ESP32 board's EN/IO0 reset works remotely.
//
// The package is a leaf: it imports nothing of tinyprof but the error
// formatter. serialport.OpenURL is the usual way in.
package rfc2217

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// Default settings; see Options.
const (
	defaultBaud        = 115200
	defaultAckTimeout  = 2 * time.Second
	defaultReadTimeout = 100 * time.Millisecond
	// bufSize bounds the data received but not yet read: past it the
	// reader stops reading the socket and TCP's window stops the server.
	bufSize = 64 << 10
	// maxGreeting is how much non-telnet text before negotiation is kept
	// to quote in an error ("Port already in use").
	maxGreeting = 120
	// signature is what this client tells a server that asks who it is.
	signature = "tinyprof"
)

// Parity is a serial line's parity, with RFC 2217's SET-PARITY values.
type Parity byte

// The parities.
const (
	ParityNone  Parity = 1
	ParityOdd   Parity = 2
	ParityEven  Parity = 3
	ParityMark  Parity = 4
	ParitySpace Parity = 5
)

func (p Parity) String() string {
	if s, ok := map[Parity]string{ParityNone: "none", ParityOdd: "odd", ParityEven: "even",
		ParityMark: "mark", ParitySpace: "space"}[p]; ok {
		return s
	}
	return fmt.Sprintf("parity %d", byte(p))
}

// StopBits is a serial line's stop bits, with RFC 2217's SET-STOPSIZE values.
type StopBits byte

// The stop sizes.
const (
	StopOne     StopBits = 1
	StopTwo     StopBits = 2
	StopOneHalf StopBits = 3
)

func (s StopBits) String() string {
	if t, ok := map[StopBits]string{StopOne: "1", StopTwo: "2", StopOneHalf: "1.5"}[s]; ok {
		return t
	}
	return fmt.Sprintf("stop size %d", byte(s))
}

// Options configures Dial. The zero value is 115200 8N1.
type Options struct {
	// Baud is the line rate the server sets on its port. Default 115200.
	Baud int
	// DataBits is 5 to 8. Default 8.
	DataBits int
	// Parity defaults to ParityNone.
	Parity Parity
	// StopBits defaults to StopOne.
	StopBits StopBits
	// AckTimeout bounds the wait for each answer from the server: the
	// telnet negotiation, and each COM-PORT-OPTION acknowledgement.
	// Default 2 s. A context deadline that comes first wins.
	AckTimeout time.Duration
	// ReadTimeout is the quiet period after which Read returns a timeout
	// error. Default 100 ms, as serialport.Port.
	ReadTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Baud == 0 {
		o.Baud = defaultBaud
	}
	if o.DataBits == 0 {
		o.DataBits = 8
	}
	if o.Parity == 0 {
		o.Parity = ParityNone
	}
	if o.StopBits == 0 {
		o.StopBits = StopOne
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = defaultAckTimeout
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = defaultReadTimeout
	}
	return o
}

func (o Options) validate() error {
	switch {
	case o.Baud < 0 || int64(o.Baud) > 1<<32-1:
		return fmt.Errorf("baud rate %d out of range", o.Baud)
	case o.DataBits < 5 || o.DataBits > 8:
		return fmt.Errorf("%d data bits: want 5 to 8", o.DataBits)
	case o.Parity < ParityNone || o.Parity > ParitySpace:
		return fmt.Errorf("unknown %v", o.Parity)
	case o.StopBits < StopOne || o.StopBits > StopOneHalf:
		return fmt.Errorf("unknown %v", o.StopBits)
	}
	return nil
}

// Conn is a connection to a serial port on an RFC 2217 server. Read and
// Write may be called concurrently with each other and with the control
// methods (SetDTR, HardReset, ...), each by one goroutine at a time.
// The caller must Close it; Close stops every goroutine the Conn started.
type Conn struct {
	addr string
	nc   net.Conn
	opts Options

	ctrl      chan []byte   // telnet commands for the control writer
	closing   chan struct{} // closed by Close
	readDone  chan struct{} // closed when the reader goroutine ends
	ctrlDone  chan struct{} // closed when the control writer ends
	cmdSem    chan struct{} // one COM-PORT-OPTION command in flight
	closeOnce sync.Once

	dataReady  chan struct{} // the ring got data or the deadline moved
	spaceReady chan struct{} // Read made room in the ring
	negChanged chan struct{} // an option changed state

	mu         sync.Mutex
	ring       ring
	err        error     // why the reader stopped; set before readDone closes
	deadline   time.Time // SetReadDeadline
	us, them   [256]optState
	pending    *pending // the command awaiting its acknowledgement
	greeting   []byte   // data before negotiation ended, for error messages
	negotiated bool
	rxBytes    int64
	commands   int64 // telnet commands received
	modem      ModemState
	modemSeen  bool
	line       LineState
	lineSeen   bool
	suspended  bool // FLOWCONTROL-SUSPEND received, not yet RESUME
	serverSig  string

	dec decoder // used only by the reader goroutine
}

// pending is a command waiting for the server's answer (code + 100).
type pending struct {
	code  byte
	group byte // for SET-CONTROL: which value group answers it
	ch    chan []byte
}

// Dial connects to the RFC 2217 server at addr (HOST:PORT) and sets up its
// port as opts says. It returns when the server has acknowledged every
// setting and purged its buffers, or with an *Error: the server is
// unreachable, silent, not an RFC 2217 server, or refused a setting. On
// error nothing stays open.
func Dial(ctx context.Context, addr string, opts Options) (*Conn, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, &Error{Op: "dial", Addr: addr, Kind: Settings, Err: err}
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &Error{Op: "dial", Addr: addr, Kind: Timeout, Err: err}
		}
		return nil, &Error{Op: "dial", Addr: addr, Kind: Unreachable, Err: err,
			Hint: "is the RFC 2217 server (ser2net) running and listening on this address?"}
	}
	c := newConn(nc, addr, opts)
	if err := c.start(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func newConn(nc net.Conn, addr string, opts Options) *Conn {
	c := &Conn{addr: addr, nc: nc, opts: opts,
		ctrl: make(chan []byte, 16), closing: make(chan struct{}),
		readDone: make(chan struct{}), ctrlDone: make(chan struct{}), cmdSem: make(chan struct{}, 1),
		dataReady: make(chan struct{}, 1), spaceReady: make(chan struct{}, 1), negChanged: make(chan struct{}, 1),
		ring: ring{buf: make([]byte, bufSize)},
	}
	for _, o := range []byte{optBinary, optSGA} {
		c.us[o], c.them[o] = optWant, optWant
	}
	c.us[optComPort] = optWant
	go c.readLoop()
	go c.ctrlLoop()
	return c
}

// start negotiates the telnet options, sets the line and purges.
func (c *Conn) start(ctx context.Context) error {
	// Ask for everything at once rather than answering the server's
	// opening first: requests that cross are settled by negotiate, and
	// a server that waits for the client to speak is not kept waiting.
	req := []byte{
		cmdIAC, cmdWILL, optBinary, cmdIAC, cmdDO, optBinary,
		cmdIAC, cmdWILL, optSGA, cmdIAC, cmdDO, optSGA,
		cmdIAC, cmdWILL, optComPort,
	}
	if err := c.sendCtrl(ctx, "negotiate", req); err != nil {
		return err
	}
	if err := c.awaitNegotiation(ctx); err != nil {
		return err
	}
	if err := c.SetLine(ctx, c.opts.Baud, c.opts.DataBits, c.opts.Parity, c.opts.StopBits); err != nil {
		return err
	}
	// Bytes the board sent before we connected are stale, as a local
	// port's ResetInputBuffer drops them; so is output queued for it.
	return c.Purge(ctx, PurgeBoth)
}

// Name returns the port's URL, rfc2217://HOST:PORT.
func (c *Conn) Name() string { return "rfc2217://" + c.addr }

// Read reads data from the remote port. After ReadTimeout of quiet (or at
// the read deadline) it returns a timeout error whose Timeout method
// reports true; it never returns (0, nil) for a non-empty p.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	quiet := time.NewTimer(c.opts.ReadTimeout)
	defer quiet.Stop()
	var deadline *time.Timer // SetReadDeadline's, made when first needed
	defer func() {
		if deadline != nil {
			deadline.Stop()
		}
	}()
	for {
		c.mu.Lock()
		if n := c.ring.read(p); n > 0 {
			c.mu.Unlock()
			signal(c.spaceReady)
			return n, nil
		}
		err, at := c.err, c.deadline
		c.mu.Unlock()
		if err != nil {
			return 0, err
		}
		var dl <-chan time.Time
		if !at.IsZero() {
			wait := time.Until(at)
			if wait <= 0 {
				return 0, timeoutError{}
			}
			if deadline == nil {
				deadline = time.NewTimer(wait)
			} else {
				deadline.Reset(wait)
			}
			dl = deadline.C
		}
		select {
		case <-c.dataReady:
		case <-c.readDone:
		case <-c.closing:
			return 0, c.closedError("read")
		case <-quiet.C:
			return 0, timeoutError{}
		case <-dl:
			return 0, timeoutError{}
		}
	}
}

// SetReadDeadline makes Read return a timeout error at t, or at once if t
// has passed; the zero time removes the deadline. It lets a reader
// goroutine be stopped without closing the Conn.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	signal(c.dataReady)
	return nil
}

// Write sends p to the remote port, doubling any 0xFF byte as telnet
// requires. It blocks while the server does not read; Close unblocks it.
func (c *Conn) Write(p []byte) (int, error) {
	wire := p
	escapes := countIAC(p)
	if escapes > 0 {
		wire = appendEscaped(make([]byte, 0, len(p)+escapes), p)
	}
	n, err := c.nc.Write(wire)
	if err != nil {
		return dataWritten(wire[:n]), c.connError("write", err)
	}
	return len(p), nil
}

// countIAC counts the 0xFF bytes in p.
func countIAC(p []byte) int {
	n := 0
	for _, b := range p {
		if b == cmdIAC {
			n++
		}
	}
	return n
}

// dataWritten returns how many of the caller's bytes the escaped prefix
// w carries; a lone trailing IAC is a byte half sent, not counted.
func dataWritten(w []byte) int {
	n := 0
	for i := 0; i < len(w); i++ {
		if w[i] == cmdIAC {
			if i+1 == len(w) {
				break
			}
			i++
		}
		n++
	}
	return n
}

// Abort closes the connection, which also unblocks a Write stuck on a
// server that stopped reading (device.Aborter).
func (c *Conn) Abort() error { return c.Close() }

// Close closes the connection and waits for the Conn's goroutines to end.
// It is safe to call more than once and from any goroutine.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closing)
		err = c.nc.Close()
		<-c.readDone
		<-c.ctrlDone
	})
	return err
}

// ModemState returns the modem lines the server last reported
// (NOTIFY-MODEMSTATE), and whether it has reported them at all.
func (c *Conn) ModemState() (ModemState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.modem, c.modemSeen
}

// LineState returns the line state the server last reported
// (NOTIFY-LINESTATE), and whether it has reported it at all.
func (c *Conn) LineState() (LineState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.line, c.lineSeen
}

// ServerSignature returns the text the server sent as its SIGNATURE, if
// any (ser2net sends "ser2net" when asked; see Signature).
func (c *Conn) ServerSignature() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.serverSig
}

// readLoop decodes everything the server sends until the connection ends.
func (c *Conn) readLoop() {
	raw := make([]byte, 16<<10)
	var err error
	for {
		var n int
		n, err = c.nc.Read(raw)
		quickAck(c.nc)
		if n > 0 {
			c.mu.Lock()
			c.rxBytes += int64(n)
			c.mu.Unlock()
			c.dec.feed(raw[:n], c.handle)
		}
		if err != nil {
			break
		}
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = c.connError("read", err)
	}
	c.mu.Unlock()
	close(c.readDone)
}

// handle acts on one decoded event, in the reader goroutine.
func (c *Conn) handle(ev event) {
	switch ev.kind {
	case evData:
		c.push(ev.data)
	case evOption:
		c.option(ev.verb, ev.opt)
	case evSubneg:
		c.count()
		if ev.opt == optComPort {
			c.comPort(ev.sub)
		}
	case evCommand:
		c.count()
	case evOverlong:
		c.fail(&Error{Op: "read", Addr: c.addr, Kind: Protocol,
			Err: fmt.Errorf("the server sent a subnegotiation longer than %d bytes", maxSubneg)})
	}
}

func (c *Conn) count() {
	c.mu.Lock()
	c.commands++
	c.mu.Unlock()
}

// push queues data for Read, waiting for room; it gives up when the Conn
// closes.
func (c *Conn) push(p []byte) {
	for len(p) > 0 {
		c.mu.Lock()
		if !c.negotiated && len(c.greeting) < maxGreeting {
			c.greeting = append(c.greeting, p[:min(len(p), maxGreeting-len(c.greeting))]...)
		}
		n := c.ring.write(p)
		c.mu.Unlock()
		if n > 0 {
			signal(c.dataReady)
			p = p[n:]
			continue
		}
		select {
		case <-c.spaceReady:
		case <-c.closing:
			return
		}
	}
}

// fail records why the connection is unusable and closes the socket, so
// that the reader ends and Read reports err once the data is drained.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.nc.Close()
}

// queueCtrl hands a reply to the control writer from the reader
// goroutine. The reader never writes to the socket itself: a Write
// blocked on a server that is itself blocked sending to us would then
// stop the reader and deadlock both ends.
func (c *Conn) queueCtrl(b []byte) {
	select {
	case c.ctrl <- b:
	case <-c.closing:
	}
}

// sendCtrl queues b for the control writer, bounded by ctx.
func (c *Conn) sendCtrl(ctx context.Context, op string, b []byte) error {
	select {
	case c.ctrl <- b:
		return nil
	case <-ctx.Done():
		return &Error{Op: op, Addr: c.addr, Kind: Timeout, Err: ctx.Err(),
			Hint: "the server is not reading what we send"}
	case <-c.closing:
		return c.closedError(op)
	case <-c.readDone:
		return c.readErr()
	}
}

// ctrlLoop writes telnet commands, in order, until Close.
func (c *Conn) ctrlLoop() {
	defer close(c.ctrlDone)
	for {
		select {
		case b := <-c.ctrl:
			if _, err := c.nc.Write(b); err != nil {
				c.fail(c.connError("write", err))
				return
			}
		case <-c.closing:
			return
		}
	}
}

func (c *Conn) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// closedError is the error of a call on a Conn that Close closed.
func (c *Conn) closedError(op string) error {
	return &Error{Op: op, Addr: c.addr, Kind: Closed, Err: net.ErrClosed}
}

// connError wraps a socket error.
func (c *Conn) connError(op string, err error) error {
	select {
	case <-c.closing:
		return c.closedError(op)
	default:
	}
	return &Error{Op: op, Addr: c.addr, Kind: Closed, Err: err,
		Hint: "the connection to the RFC 2217 server was lost; reopen the port"}
}

// signal wakes the one waiter on ch, if any, without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
