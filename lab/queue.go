package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ticketPrefix starts the name of a waiter's ticket in the lease
// directory; the leading dot keeps it out of List.
const ticketPrefix = ".ticket-"

// tmpTicketPrefix starts the name of a ticket being written, before it
// is locked and renamed into line.
const tmpTicketPrefix = ".tmpticket-"

// sweepTmpTicket removes a ticket that a waiter killed while writing it
// left behind: unlocked, and older than any write of a few bytes takes.
func sweepTmpTicket(e fs.DirEntry, path string) {
	info, err := e.Info()
	if err != nil || time.Since(info.ModTime()) < time.Minute {
		return
	}
	f, err := openEntry("", path, os.O_RDONLY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	if flock(f, unix.LOCK_SH|unix.LOCK_NB) == nil {
		os.Remove(path)
	}
}

// ticketRecord is what a ticket file holds.
type ticketRecord struct {
	Holder Holder   `json:"holder"`
	Boards []string `json:"boards"`
}

// Enqueue implements Queue. A ticket is a file .ticket-TIME-PID-RAND in
// the lease directory, named by the wall clock at arrival (so names sort
// in arrival order: one host, one clock), holding the boards its waiter
// wants, and flock'ed by its waiter for as long as it waits. A ticket
// whose lock can be taken belongs to a dead waiter: it no longer counts,
// and whoever finds it removes it. The lock is taken before the ticket is
// renamed into view, so a live ticket is never seen unlocked.
func (s *FlockStore) Enqueue(ctx context.Context, ids []string, h Holder) (Ticket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rec, err := json.Marshal(ticketRecord{Holder: h, Boards: ids})
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.dir, tmpTicketPrefix+"*")
	if err != nil {
		return nil, &StoreError{Op: "create ticket", Path: s.dir, Err: err}
	}
	fail := func(op string, err error) (Ticket, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, &StoreError{Op: op, Path: f.Name(), Err: err}
	}
	if _, err := f.Write(rec); err != nil {
		return fail("write ticket", err)
	}
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail("lock ticket", err)
	}
	name := fmt.Sprintf("%s%020d-%010d-%08x", ticketPrefix, time.Now().UnixNano(), os.Getpid(), rand.Uint32())
	path := filepath.Join(s.dir, name)
	if err := os.Rename(f.Name(), path); err != nil {
		return fail("place ticket", err)
	}
	return &flockTicket{s: s, name: name, path: path, f: f, boards: ids}, nil
}

// flockTicket is a FlockStore's Ticket.
type flockTicket struct {
	s          *FlockStore
	name, path string
	f          *os.File
	boards     []string
	once       sync.Once
}

// Ahead implements Ticket: it reads every older ticket, drops the stale
// ones, and counts the live ones that want a board this one wants. A live
// ticket it cannot read counts as wanting every board.
func (t *flockTicket) Ahead(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ents, err := os.ReadDir(t.s.dir)
	if err != nil {
		return 0, &StoreError{Op: "read the queue", Path: t.s.dir, Err: err}
	}
	ahead := 0
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, tmpTicketPrefix) {
			sweepTmpTicket(e, filepath.Join(t.s.dir, name))
			continue
		}
		if !strings.HasPrefix(name, ticketPrefix) || name >= t.name {
			continue // names sort in arrival order
		}
		if t.older(filepath.Join(t.s.dir, name)) {
			ahead++
		}
	}
	return ahead, nil
}

// older reports whether the older ticket at path is live and wants a
// board t wants, removing it if its waiter is dead.
func (t *flockTicket) older(path string) bool {
	f, err := openEntry("", path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false // left while we looked
	}
	if err != nil {
		return false // not a ticket of ours: a planted file does not block the line
	}
	defer f.Close()
	switch err := flock(f, unix.LOCK_SH|unix.LOCK_NB); {
	case err == nil:
		os.Remove(path) // its waiter died: nobody holds its lock
		return false
	case !errors.Is(err, unix.EWOULDBLOCK):
		return false
	}
	data, err := readRecord("", f)
	var rec ticketRecord
	if err != nil || json.Unmarshal(data, &rec) != nil {
		return true
	}
	for _, id := range rec.Boards {
		if slices.Contains(t.boards, id) {
			return true
		}
	}
	return false
}

// Leave implements Ticket.
func (t *flockTicket) Leave() error {
	var err error
	t.once.Do(func() {
		err = os.Remove(t.path)
		if cerr := t.f.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

// Waiters counts the live waiters in line for any of the boards ids, the
// caller's own ticket included; stale tickets are swept as Ahead sweeps
// them. Package hwtest reports it while a lease waits.
func (s *FlockStore) Waiters(ctx context.Context, ids []string) (int, error) {
	// A ticket named after every real one: everyone is ahead of it.
	probe := &flockTicket{s: s, name: ticketPrefix + "\xff", boards: ids}
	return probe.Ahead(ctx)
}
