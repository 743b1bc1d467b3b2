package etcdstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Options configures a Store.
type Options struct {
	// Endpoints are the etcd members' client addresses, host:port or
	// http(s)://host:port. Required.
	Endpoints []string
	// Lab names the lab: its keys live under /tinyprof/LAB/. Default
	// "default". It may not contain '/'.
	Lab string
	// TTL is the life of a lease that is not kept alive: how long a board
	// stays leased after its holder died or was cut off. etcd counts in
	// whole seconds (TTL is rounded up) and enforces a minimum of about
	// 1.5 election timeouts. Default 10 s.
	TTL time.Duration
	// DialTimeout bounds connecting and authenticating. Default 5 s.
	DialTimeout time.Duration

	// Username and Password authenticate to an etcd with auth enabled.
	Username, Password string
	// TLS, if set, is the client's TLS configuration. Otherwise CAFile,
	// CertFile and KeyFile, if set, build one: CAFile verifies the
	// members, CertFile and KeyFile are the client certificate.
	TLS                       *tls.Config
	CAFile, CertFile, KeyFile string
}

func (o Options) withDefaults() (Options, error) {
	if len(o.Endpoints) == 0 {
		return o, errors.New("etcdstore: no etcd endpoints (give etcd://HOST:2379[,HOST:2379...])")
	}
	if o.Lab == "" {
		o.Lab = "default"
	}
	if strings.Contains(o.Lab, "/") {
		return o, fmt.Errorf("etcdstore: lab name %q contains '/'", o.Lab)
	}
	if o.TTL <= 0 {
		o.TTL = 10 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	return o, nil
}

// ttlSeconds is the TTL asked of etcd, in its whole seconds.
func (o Options) ttlSeconds() int64 {
	return int64((o.TTL + time.Second - 1) / time.Second)
}

func (o Options) tlsConfig() (*tls.Config, error) {
	if o.TLS != nil {
		return o.TLS, nil
	}
	if o.CAFile == "" && o.CertFile == "" && o.KeyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("etcdstore: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcdstore: CA file %s holds no PEM certificate", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("etcdstore: a client certificate needs both a certificate file and a key file")
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("etcdstore: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// EnvPassword is the environment variable ParseURL reads the etcd password
// from when the URL names a user without one, so that it stays out of
// command lines and CI logs.
const EnvPassword = "TINYPROF_ETCD_PASSWORD"

// ParseURL reads the lab address that -hwtest.lab, TINYPROF_LAB and the
// CLI's --lab take:
//
//	etcd://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT...][/LAB][?ttl=10s&ca=FILE&cert=FILE&key=FILE]
//
// A user without a password takes it from $TINYPROF_ETCD_PASSWORD. With
// ca or cert, the members are reached over TLS.
func ParseURL(raw string) (Options, error) {
	var o Options
	u, err := url.Parse(raw)
	if err != nil {
		return o, fmt.Errorf("lab address %q: %w", raw, err)
	}
	if u.Scheme != "etcd" {
		return o, fmt.Errorf("lab address %q: want etcd://HOST:2379[,HOST:2379...][/LAB]", raw)
	}
	if u.Host == "" {
		return o, fmt.Errorf("lab address %q names no etcd member", raw)
	}
	for _, h := range strings.Split(u.Host, ",") {
		if h == "" {
			return o, fmt.Errorf("lab address %q has an empty member", raw)
		}
		o.Endpoints = append(o.Endpoints, h)
	}
	o.Lab = strings.Trim(u.Path, "/")
	if u.User != nil {
		o.Username = u.User.Username()
		if p, ok := u.User.Password(); ok {
			o.Password = p
		} else {
			o.Password = os.Getenv(EnvPassword)
		}
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "ttl", "ca", "cert", "key":
		default:
			return o, fmt.Errorf("lab address %q: unknown parameter %q (want ttl, ca, cert, key)", raw, k)
		}
	}
	if s := q.Get("ttl"); s != "" {
		if o.TTL, err = time.ParseDuration(s); err != nil || o.TTL <= 0 {
			return o, fmt.Errorf("lab address %q: ttl %q is not a positive duration such as 10s", raw, s)
		}
	}
	o.CAFile, o.CertFile, o.KeyFile = q.Get("ca"), q.Get("cert"), q.Get("key")
	_, err = o.withDefaults()
	return o, err
}
