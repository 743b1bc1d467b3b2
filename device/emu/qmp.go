package emu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// qmp is a client of the QEMU Machine Protocol on a Unix socket: one
// command at a time, each answered by a line with "return" or "error";
// asynchronous events (RESET, STOP, SHUTDOWN…) arrive on lines of their
// own in between and are skipped.
type qmp struct {
	mu   sync.Mutex // one command at a time
	conn net.Conn
	r    *bufio.Reader
}

// maxQMPLine bounds one QMP message; QEMU's answers to our commands are
// far smaller.
const maxQMPLine = 1 << 20

// dialQMP connects to path, retrying until QEMU has created the socket,
// and negotiates capabilities.
func dialQMP(ctx context.Context, path string, exited <-chan struct{}) (*qmp, error) {
	var conn net.Conn
	for {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", path)
		if err == nil {
			conn = c
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("QMP socket %s: %w", path, ctx.Err())
		case <-exited:
			return nil, errors.New("QEMU exited before its QMP socket opened")
		case <-time.After(10 * time.Millisecond):
		}
	}
	q := &qmp{conn: conn, r: bufio.NewReaderSize(conn, 4096)}
	if err := q.deadline(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	var greeting struct {
		QMP json.RawMessage `json:"QMP"`
	}
	if err := q.read(&greeting); err != nil || greeting.QMP == nil {
		conn.Close()
		return nil, fmt.Errorf("QMP greeting: %v", errors.Join(err, errors.New("not a QMP server")))
	}
	if err := q.run(ctx, "qmp_capabilities"); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *qmp) deadline(ctx context.Context) error {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(10 * time.Second) // QEMU answers in milliseconds
	}
	return q.conn.SetDeadline(dl)
}

// read decodes the next message into v.
func (q *qmp) read(v any) error {
	var line []byte
	for {
		chunk, isPrefix, err := q.r.ReadLine()
		if err != nil {
			return err
		}
		line = append(line, chunk...)
		if len(line) > maxQMPLine {
			return fmt.Errorf("QMP message over %d bytes", maxQMPLine)
		}
		if !isPrefix {
			break
		}
	}
	return json.Unmarshal(line, v)
}

// run executes one command and waits for its answer.
func (q *qmp) run(ctx context.Context, command string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.deadline(ctx); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { q.conn.SetDeadline(time.Now()) })
	defer stop()
	req, _ := json.Marshal(map[string]string{"execute": command})
	if _, err := q.conn.Write(append(req, '\n')); err != nil {
		return fmt.Errorf("QMP %s: %w", command, err)
	}
	for {
		var msg struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
		}
		if err := q.read(&msg); err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return fmt.Errorf("QMP %s: %w", command, err)
		}
		switch {
		case msg.Error != nil:
			return fmt.Errorf("QMP %s: %s: %s", command, msg.Error.Class, msg.Error.Desc)
		case msg.Return != nil:
			return nil
		}
		// An event: keep reading.
	}
}

func (q *qmp) Close() error { return q.conn.Close() }
