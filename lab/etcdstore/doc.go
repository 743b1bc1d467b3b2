// Package etcdstore keeps a lab's leases and board health in etcd, so that
// test processes on many machines share one lab. Store implements
// lab.Store; a lab.Lab with an etcdstore.Store in its Store field leases
// boards across hosts exactly as it does on one host with a lab.FlockStore.
//
// # Keys
//
// Everything a lab keeps lives under one prefix, /tinyprof/LAB/ (LAB is
// Options.Lab). For a board whose id, path-escaped, is ID:
//
//	/tinyprof/LAB/boards/ID/lease/LEASEID  one per holder or waiter: its lab.Holder as JSON,
//	                                       bound to the etcd lease LEASEID (hex)
//	/tinyprof/LAB/boards/ID/health         the board's lab.Health as JSON, not bound to a lease
//	/tinyprof/LAB/inventory/ID             a board an exporter publishes (Published, as JSON),
//	                                       bound to the exporter's etcd lease (Publisher)
//
// # Leases
//
// A lease on a board is an etcd lease (Options.TTL, default 10 s) and a key
// under the board's lease/ prefix bound to it. The keys under that prefix
// form a queue ordered by creation revision: the key created first holds
// the board, the others wait, each watching the key just ahead of it, so
// waiters are served in order of arrival and nobody polls. The holder keeps
// its etcd lease alive; when it releases, exits, is killed or is cut off
// from etcd, its etcd lease ends (at once on release, when the TTL runs out
// otherwise) and etcd deletes its key, which wakes the next waiter.
//
// A holder learns that it lost its lease through Lease.Lost. The store
// closes that channel when etcd reports the lease gone, when the holder's
// key is deleted, or when no keep-alive has been answered for a whole TTL
// counted from the moment the last successful keep-alive was sent. The
// last rule means a holder cut off from etcd is told no later than etcd
// can hand the board to someone else: etcd renewed the lease after that
// request was sent, so the lease outlives the deadline the holder keeps.
//
// Store.Acquire (lab.Acquirer, which lab.Lab uses) waits for any n of
// several boards: the waiter puts a key in every one of their queues in
// one transaction, bound to one etcd lease, so that its keys share one
// revision and waiters are ordered alike in every queue; it takes the
// first n boards whose queues it heads and leaves the others. Its keys
// are bound to the store's session, one etcd lease per Store kept alive
// until Close, so a lease costs no grant and no revoke; releasing deletes
// the key. A process that dies loses its session, and every board it
// held, when the TTL runs out, as with a lease of its own.
//
// # Fencing
//
// Each lease carries the creation revision of its key. SetHealth writes
// the health record in a transaction that succeeds only while that key
// exists with that revision, so a holder whose lease has ended — even one
// that has not noticed yet, like a process that was stopped — cannot
// overwrite what its successor recorded; it gets a *FenceError instead.
//
// # Access control
//
// Options carries TLS client certificates and an etcd user and password.
// A role that may lease boards and record their health, but not change
// the inventory, needs read-write on the boards prefix and read on the
// rest of the lab's prefix:
//
//	etcdctl role add tinyprof-leaser
//	etcdctl role grant-permission tinyprof-leaser --prefix=true readwrite /tinyprof/LAB/boards/
//	etcdctl role grant-permission tinyprof-leaser --prefix=true read /tinyprof/LAB/
//	etcdctl user add ci-runner
//	etcdctl user grant-role ci-runner tinyprof-leaser
//
// etcd lets any authenticated user grant a lease; revoking one needs
// write permission on every key bound to it, which the boards prefix
// gives. Exporters, which publish the inventory, need readwrite on
// /tinyprof/LAB/inventory/ as well.
package etcdstore
