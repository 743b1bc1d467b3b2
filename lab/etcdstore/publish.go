package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"time"

	"github.com/tinyprof/tinyprof/lab"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Published is a board an exporter (tiny-profiler lab export) publishes in
// the lab's inventory, under /tinyprof/LAB/inventory/ID, bound to the
// exporter's own etcd lease: it disappears when the exporter stops, dies or
// is cut off, and when the board is unplugged.
type Published struct {
	ID       string            `json:"id"`
	Platform string            `json:"platform"`
	Protocol string            `json:"protocol,omitempty"`
	Features []string          `json:"features,omitempty"`
	Firmware string            `json:"firmware,omitempty"`
	Baud     int               `json:"baud,omitempty"`
	Meter    *lab.MeterBinding `json:"meter,omitempty"`
	// Address is where the board is reached: rfc2217://HOST:PORT.
	Address string `json:"address"`
	// Host is the exporter's host, and Device the board's port there.
	Host   string `json:"host"`
	Device string `json:"device"`
	// Since is when the exporter published the board at this address.
	Since time.Time `json:"since"`
}

// Entry returns the inventory entry a leaser uses for the board: a real
// board whose port is its rfc2217:// address.
func (p Published) Entry() lab.Entry {
	return lab.Entry{ID: p.ID, Platform: p.Platform, Protocol: p.Protocol, Features: p.Features,
		Firmware: p.Firmware, Baud: p.Baud, Meter: p.Meter, Port: p.Address, State: lab.Good,
		Host: p.Host, Notes: "exported by " + p.Host + " from " + p.Device}
}

func (s *Store) inventoryPrefix() string { return s.prefix() + "inventory/" }

// Boards reads the boards the lab's exporters publish now, sorted by id. A
// record that cannot be read is skipped and named in the error, which is
// returned beside the readable boards.
func (s *Store) Boards(ctx context.Context) ([]Published, error) {
	g, err := s.c.Get(ctx, s.inventoryPrefix(), clientv3.WithPrefix(), clientv3.WithLimit(maxKeys))
	if err != nil {
		return nil, errorf(err, "read the lab's published boards")
	}
	var out []Published
	var errs []error
	for _, kv := range g.Kvs {
		var p Published
		if err := json.Unmarshal(kv.Value, &p); err != nil || p.ID == "" || p.Address == "" {
			errs = append(errs, fmt.Errorf("published board %s is unreadable (its exporter wrote it wrongly; etcdctl del it)", kv.Key))
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, errors.Join(errs...)
}

// ErrPublishedElsewhere matches, with errors.Is, the error of a board that
// another exporter publishes already.
var ErrPublishedElsewhere = errors.New("board is published by another exporter")

// Publisher publishes one exporter's boards under an etcd lease of its
// own, kept alive until Close. Its methods must not be called
// concurrently.
type Publisher struct {
	s    *Store
	g    *grant
	have map[string]string // id → the record published
}

// Publisher starts publishing for one exporter: it takes an etcd lease of
// the store's TTL. The caller must Close it, which withdraws every board.
func (s *Store) Publisher(ctx context.Context) (*Publisher, error) {
	g, err := s.newGrant(ctx, "publish boards")
	if err != nil {
		return nil, err
	}
	return &Publisher{s: s, g: g, have: map[string]string{}}, nil
}

// Lost is closed when the publisher's etcd lease ends (it was cut off from
// etcd for a TTL): every board it published is withdrawn, and the
// exporter must start a new Publisher.
func (p *Publisher) Lost() <-chan struct{} { return p.g.lost }

func (p *Publisher) key(id string) string { return p.s.inventoryPrefix() + url.PathEscape(id) }

// Set makes the published boards exactly boards: it publishes new and
// changed ones and withdraws the others. A board that another exporter
// publishes is left to it and reported (ErrPublishedElsewhere); the rest
// are published all the same.
func (p *Publisher) Set(ctx context.Context, boards []Published) error {
	want := map[string]string{}
	var errs []error
	for _, b := range boards {
		b.Since = time.Time{} // compared without it; set when written
		data, err := json.Marshal(b)
		if err != nil {
			return err
		}
		want[b.ID] = string(data)
	}
	for id := range p.have {
		if _, ok := want[id]; ok {
			continue
		}
		if _, err := p.s.c.Delete(ctx, p.key(id)); err != nil {
			errs = append(errs, errorf(err, "withdraw board %s", id))
			continue
		}
		delete(p.have, id)
	}
	for _, b := range boards {
		if p.have[b.ID] == want[b.ID] {
			continue
		}
		b.Since = time.Now()
		data, _ := json.Marshal(b)
		k := p.key(b.ID)
		put := clientv3.OpPut(k, string(data), clientv3.WithLease(p.g.id))
		// Put if nobody publishes the board, or if it is ours already.
		ours := clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.LeaseValue(k), "=", p.g.id)},
			[]clientv3.Op{put}, []clientv3.Op{clientv3.OpGet(k)})
		tr, err := p.s.c.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).Then(put).Else(ours).Commit()
		if err != nil {
			errs = append(errs, errorf(err, "publish board %s", b.ID))
			continue
		}
		if !tr.Succeeded {
			inner := tr.Responses[0].GetResponseTxn()
			if !inner.GetSucceeded() {
				other := "another exporter"
				if kvs := inner.GetResponses()[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
					var o Published
					if json.Unmarshal(kvs[0].Value, &o) == nil && o.Host != "" {
						other = o.Host
					}
				}
				errs = append(errs, fmt.Errorf("board %s: %w: %s (two hosts list it: remove it from one inventory)", b.ID, ErrPublishedElsewhere, other))
				continue
			}
		}
		p.have[b.ID] = want[b.ID]
	}
	return errors.Join(errs...)
}

// Published returns the ids of the boards this publisher has published.
func (p *Publisher) Published() []string {
	var ids []string
	for id := range p.have {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Close withdraws every board at once (it revokes the publisher's etcd
// lease) and stops keeping it alive. If etcd cannot be reached, the boards
// are withdrawn when the TTL runs out.
func (p *Publisher) Close() error {
	p.g.mu.Lock()
	p.g.ended = true
	p.g.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), p.s.opts.DialTimeout)
	defer cancel()
	clear(p.have)
	return p.g.revoke(ctx, "withdraw the published boards")
}
