package serialport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	"github.com/tinyprof/tinyprof/serialport/rfc2217"
)

// Line is an open serial line, on this host (a *Port) or on an RFC 2217
// server. It satisfies device.Transport, device.HardResetter,
// device.Aborter and device.Named.
type Line interface {
	io.ReadWriteCloser
	Name() string
	HardReset(ctx context.Context) error
	Abort() error
}

// OpenURL opens name, which is either a local port path (/dev/ttyUSB0, a
// pty) or the address of a port on an RFC 2217 server such as ser2net,
// rfc2217://HOST:PORT, at the given baud rate (0 means 115200). Errors are
// *Error for both, so callers branch on Kind alike. The caller must Close
// the line.
func OpenURL(ctx context.Context, name string, baud int) (Line, error) {
	if !strings.Contains(name, "://") {
		p, err := Open(ctx, name, baud)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	u, err := url.Parse(name)
	if err != nil || u.Scheme != "rfc2217" || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.User != nil {
		return nil, &Error{Op: "open", Port: name, Kind: Missing,
			Err:  fmt.Errorf("not a port path or an rfc2217://HOST:PORT address"),
			Hint: "give a local path such as /dev/ttyUSB0, or rfc2217://HOST:PORT for a port served by ser2net"}
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return nil, &Error{Op: "open", Port: name, Kind: Missing, Err: err,
			Hint: "an RFC 2217 address needs a TCP port: rfc2217://HOST:PORT"}
	}
	c, err := rfc2217.Dial(ctx, u.Host, rfc2217.Options{Baud: baud})
	if err != nil {
		return nil, remoteError(name, err)
	}
	return remote{c}, nil
}

// remote is an RFC 2217 connection whose errors are *Error, as a local
// port's are, so that device maps both to the same codes.
type remote struct{ c *rfc2217.Conn }

func (r remote) Name() string { return r.c.Name() }
func (r remote) Close() error { return r.c.Close() }
func (r remote) Abort() error { return r.c.Abort() }

func (r remote) Read(p []byte) (int, error) {
	n, err := r.c.Read(p)
	var te interface{ Timeout() bool }
	if err != nil && !(errors.As(err, &te) && te.Timeout()) {
		err = remoteError(r.c.Name(), err)
	}
	return n, err
}

func (r remote) Write(p []byte) (int, error) {
	n, err := r.c.Write(p)
	if err != nil {
		err = remoteError(r.c.Name(), err)
	}
	return n, err
}

func (r remote) HardReset(ctx context.Context) error {
	if err := r.c.HardReset(ctx); err != nil {
		return remoteError(r.c.Name(), err)
	}
	return nil
}

// remoteKinds maps RFC 2217 failures to this package's kinds.
var remoteKinds = map[rfc2217.Kind]Kind{
	rfc2217.Unreachable: Missing, rfc2217.Timeout: Timeout, rfc2217.Closed: Closed,
	rfc2217.Protocol: Closed, rfc2217.Settings: Closed, rfc2217.NoResetLines: NoResetLines,
	rfc2217.Busy: Busy,
}

func remoteError(name string, err error) error {
	var re *rfc2217.Error
	if !errors.As(err, &re) {
		return &Error{Op: "open", Port: name, Kind: Closed, Err: err}
	}
	kind, ok := remoteKinds[re.Kind]
	if !ok {
		kind = Closed
	}
	cause := re.Err
	if re.Kind == rfc2217.Protocol || re.Kind == rfc2217.Settings {
		// Kinds with no local counterpart keep their name in the message.
		cause = fmt.Errorf("%v: %w", re.Kind, re.Err)
	}
	return &Error{Op: re.Op, Port: name, Kind: kind, Err: cause, Hint: re.Hint}
}
