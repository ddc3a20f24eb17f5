package pki_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/server/pki"
)

var now = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func csr(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestLoadOrCreateCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{pki.CACertFile, pki.CAKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode = %v, want 0600", f, got)
		}
	}
	again, err := pki.LoadOrCreateCA(dir, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Pin()) != string(ca.Pin()) {
		t.Error("reloaded CA has a different pin")
	}
}

func TestServerCert(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := ca.LoadOrCreateServerCert(dir, []string{"127.0.0.1", "localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ca.LoadOrCreateServerCert(dir, []string{"localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if c1.Leaf.SerialNumber.Cmp(c2.Leaf.SerialNumber) != 0 {
		t.Error("certificate reissued although it covers the hosts")
	}
	c3, err := ca.LoadOrCreateServerCert(dir, []string{"rollcall.school.example"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Leaf.SerialNumber.Cmp(c1.Leaf.SerialNumber) == 0 {
		t.Error("certificate not reissued for a new host name")
	}
	if err := c3.Leaf.VerifyHostname("rollcall.school.example"); err != nil {
		t.Error(err)
	}
}

func TestIssueClient(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	good := csr(t, ec)
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-3] ^= 0xff

	tests := []struct {
		name    string
		der     []byte
		wantErr string
	}{
		{"ECDSA", good, ""},
		{"RSA", csr(t, rk), "not accepted"},
		{"Garbage", []byte("not a csr"), "malformed"},
		{"BadSignature", tampered, "signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cert, err := ca.IssueClient(tc.der, "enrolment-1", now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cert.Subject.CommonName != "enrolment-1" {
				t.Errorf("CN = %q", cert.Subject.CommonName)
			}
			if err := ca.VerifyClient(cert, now); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestVerifyClient(t *testing.T) {
	ca, _ := pki.LoadOrCreateCA(t.TempDir(), now)
	other, _ := pki.LoadOrCreateCA(t.TempDir(), now)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mine, err := ca.IssueClient(csr(t, key), "a", now)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.IssueClient(csr(t, key), "a", now)
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.LoadOrCreateServerCert(t.TempDir(), []string{"localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cert    *x509.Certificate
		at      time.Time
		wantErr string
	}{
		{"Valid", mine, now.Add(time.Hour), ""},
		{"Expired", mine, now.Add(pki.ClientValidity + time.Hour), "expired"},
		{"NotYetValid", mine, now.Add(-time.Hour), "not valid until"},
		{"OtherCA", foreign, now, "not issued by this server's CA"},
		{"ServerCertificate", server.Leaf, now, "rejected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ca.VerifyClient(tc.cert, tc.at)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
