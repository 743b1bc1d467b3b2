package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tinyprof/tinyprof/lab"
	"github.com/tinyprof/tinyprof/lab/etcdstore"
)

// envLab is the lab address the --lab flags default to, as -hwtest.lab
// does in tests.
const envLab = "TINYPROF_LAB"

// labFlags are the flags of the commands that work on a lab of many
// machines in etcd: its address and the credentials that reach it.
type labFlags struct {
	url           string
	ca, cert, key string
	user          string
	required      bool // the command needs a lab (lab export)
}

func (f *labFlags) register(c *cobra.Command) {
	usage := "lab of many machines: etcd://HOST:2379[,HOST:2379...][/LAB][?ttl=10s] (default $" + envLab + "; none: the local lease directory)"
	if f.required {
		usage = "lab of many machines: etcd://HOST:2379[,HOST:2379...][/LAB][?ttl=10s] (default $" + envLab + ")"
	}
	c.Flags().StringVar(&f.url, "lab", os.Getenv(envLab), usage)
	c.Flags().StringVar(&f.ca, "etcd-ca", "", "CA `file` that verifies the etcd members (TLS)")
	c.Flags().StringVar(&f.cert, "etcd-cert", "", "client certificate `file` for etcd")
	c.Flags().StringVar(&f.key, "etcd-key", "", "client key `file` for etcd")
	c.Flags().StringVar(&f.user, "etcd-user", "", "etcd user; the password is read from $"+etcdstore.EnvPassword)
}

// open connects to the lab, or returns nil when no lab was named.
func (f *labFlags) open(ctx context.Context) (*etcdstore.Store, error) {
	if f.url == "" {
		if f.required {
			return nil, usageError{fmt.Errorf("name the lab with --lab etcd://HOST:2379 (or $%s)", envLab)}
		}
		return nil, nil
	}
	opts, err := etcdstore.ParseURL(f.url)
	if err != nil {
		return nil, usageError{fmt.Errorf("--lab: %w", err)}
	}
	if f.ca != "" {
		opts.CAFile = f.ca
	}
	if f.cert != "" {
		opts.CertFile = f.cert
	}
	if f.key != "" {
		opts.KeyFile = f.key
	}
	if f.user != "" {
		opts.Username, opts.Password = f.user, os.Getenv(etcdstore.EnvPassword)
	}
	return etcdstore.New(ctx, opts)
}

// labStore returns the lease store a lab command uses: the etcd lab's, or
// the flock store in dir (default: the state directory's leases/). The
// caller must call closeFn.
func labStore(c *cobra.Command, f *labFlags, dir string) (st lab.Store, es *etcdstore.Store, closeFn func(), err error) {
	es, err = f.open(c.Context())
	if err != nil {
		return nil, nil, nil, err
	}
	if es != nil {
		return es, es, func() { es.Close() }, nil
	}
	if dir == "" {
		state, err := stateDir(c)
		if err != nil {
			return nil, nil, nil, err
		}
		dir = filepath.Join(state, "leases")
	}
	fs, err := lab.NewFlockStore(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	return fs, nil, func() {}, nil
}

// labBoards returns the boards a lab command works on: the inventory file
// if one is named (or, without a lab, the default one), else the boards
// the lab's exporters publish. where names them for messages.
func labBoards(c *cobra.Command, es *etcdstore.Store, inventory string) (boards []lab.Entry, where string, err error) {
	if es != nil && inventory == "" {
		pubs, err := es.Boards(c.Context())
		if err != nil && pubs == nil {
			return nil, "", err
		}
		if err != nil {
			fmt.Fprintf(c.ErrOrStderr(), "warning: %v\n", err)
		}
		for _, p := range pubs {
			boards = append(boards, p.Entry())
		}
		return boards, "the lab's published boards", nil
	}
	path, err := lab.InventoryPath(inventory)
	if err != nil {
		return nil, "", err
	}
	inv, err := lab.LoadInventory(path)
	if err != nil {
		return nil, "", err
	}
	return inv.Boards, path, nil
}
