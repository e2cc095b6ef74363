package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hush-oss/hush/internal/dev/localsrv"
	"github.com/hush-oss/hush/internal/dev/testenv"
)

func TestServesUntilCancelled(t *testing.T) {
	n := testenv.StartNATS(t)
	r := testenv.StartRedis(t)
	port, err := localsrv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"HUSH_NATS_URL": n.URL, "HUSH_REDIS_URL": r.URL, "HUSH_PREFIX": r.Prefix,
		"HUSH_LISTEN":    fmt.Sprintf("127.0.0.1:%d", port),
		"HUSH_TOKENS":    "ops secret-token-0123456789 admin",
		"HUSH_LINK_KEYS": strings.Repeat("k", 32),
	}
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, &logs) }()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 20s: %v\n%s", err, logs.String())
		}
	}
	req, _ := http.NewRequest("PUT", base+"/v1/customers/c-1/mode", strings.NewReader(`{"mode":"do_nothing"}`))
	req.Header.Set("Authorization", "Bearer secret-token-0123456789")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "MODE_DO_NOTHING") {
		t.Fatalf("PUT mode: %d %s", res.StatusCode, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop within 20s")
	}
	if strings.Contains(logs.String(), "secret-token") || strings.Contains(logs.String(), "kkkkkkkk") {
		t.Error("secrets in the logs")
	}
}

func TestBadSettingsAreRefused(t *testing.T) {
	for _, tc := range []struct{ name, env, want string }{
		{"short link key", "HUSH_LINK_KEYS=short", "--link-keys"},
		{"bad token line", "HUSH_TOKENS=only-two fields", "tokens"},
		{"cert without key", "HUSH_TLS_CERT=/x.pem", "--tls-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, v, _ := strings.Cut(tc.env, "=")
			err := run(context.Background(), nil, func(name string) string {
				if name == k {
					return v
				}
				return ""
			}, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestServesTLS(t *testing.T) {
	n := testenv.StartNATS(t)
	r := testenv.StartRedis(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool := selfSigned(t, certFile, keyFile)
	port, err := localsrv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"HUSH_NATS_URL": n.URL, "HUSH_REDIS_URL": r.URL, "HUSH_PREFIX": r.Prefix,
		"HUSH_LISTEN": fmt.Sprintf("127.0.0.1:%d", port), "HUSH_TLS_CERT": certFile, "HUSH_TLS_KEY": keyFile,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard) }()
	defer func() { cancel(); <-done }()

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		res, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/healthz", port))
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 && res.TLS != nil {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS answer within 20s: %v", err)
		}
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns a
// pool that trusts it.
func selfSigned(t *testing.T, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hush-prefs-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}
