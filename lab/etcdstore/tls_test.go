package etcdstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tinyprof/tinyprof/lab/etcdstore/etcdtest"
)

// tlsFiles are the PEM files of a TLS setup: the CA, the members'
// certificate, and a client certificate the CA signed.
type tlsFiles struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

// writeTLSFiles makes a CA, a certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, and writes them as PEM files.
func writeTLSFiles(t testing.TB) *tlsFiles {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return path
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	caKey := newKey()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tinyprof test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err = x509.ParseCertificate(caDER)
	require.NoError(t, err)
	issue := func(serial int64, name string, usage x509.ExtKeyUsage) (string, string) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		require.NoError(t, err)
		kder, err := x509.MarshalECPrivateKey(k)
		require.NoError(t, err)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	tf := &tlsFiles{CA: write("ca.pem", "CERTIFICATE", caDER)}
	tf.ServerCert, tf.ServerKey = issue(2, "server", x509.ExtKeyUsageServerAuth)
	tf.ClientCert, tf.ClientKey = issue(3, "client", x509.ExtKeyUsageClientAuth)
	return tf
}

// A member that requires client certificates serves a store given one
// (through the lab address's ca, cert and key), and refuses a store
// without.
func TestClientCertificates(t *testing.T) {
	tf := writeTLSFiles(t)
	client, err := Options{CAFile: tf.CA, CertFile: tf.ClientCert, KeyFile: tf.ClientKey}.tlsConfig()
	require.NoError(t, err)
	c := etcdtest.StartCluster(t, 1, &etcdtest.TLS{CAFile: tf.CA, CertFile: tf.ServerCert, KeyFile: tf.ServerKey, Client: client})
	o, err := ParseURL("etcd://" + c.Endpoints()[0] + "/tls?ttl=2s&ca=" + tf.CA + "&cert=" + tf.ClientCert + "&key=" + tf.ClientKey)
	require.NoError(t, err)
	s, err := New(t.Context(), o)
	require.NoError(t, err)
	defer s.Close()
	l, err := s.Lease(t.Context(), "b", holder("tls"))
	require.NoError(t, err)
	require.NoError(t, l.Release())

	_, err = New(t.Context(), Options{Endpoints: c.Endpoints(), CAFile: tf.CA, DialTimeout: time.Second})
	require.Error(t, err, "no client certificate, no lab")
}

func TestTLSOptionErrors(t *testing.T) {
	tf := writeTLSFiles(t)
	for _, tt := range []struct {
		name string
		o    Options
		err  string
	}{
		{"cert without key", Options{CertFile: tf.ClientCert}, "needs both"},
		{"missing CA", Options{CAFile: filepath.Join(t.TempDir(), "none.pem")}, "CA file"},
		{"CA not PEM", Options{CAFile: tf.ClientKey}, "holds no PEM certificate"},
		{"key of another cert", Options{CertFile: tf.ClientCert, KeyFile: tf.ServerKey}, "client certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.o.tlsConfig()
			require.ErrorContains(t, err, tt.err)
		})
	}
}
