// Package pki is the server's internal certificate authority: it makes and
// keeps the CA and the agent listener's certificate in the data directory,
// signs agents' certificate requests and checks the certificates agents
// present.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// File names inside the data directory.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "agent-listener.crt"
	ServerKeyFile  = "agent-listener.key"
)

// Lifetimes of the certificates the CA issues.
const (
	CAValidity     = 20 * 365 * 24 * time.Hour
	ServerValidity = 2 * 365 * 24 * time.Hour
	ClientValidity = 90 * 24 * time.Hour
)

// CA is the server's certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// LoadCA reads the CA from dir. The error wraps [os.ErrNotExist] when dir
// holds no CA.
func LoadCA(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	cert, key, err := loadPair(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", certPath)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadOrCreateCA reads the CA from dir, or makes a new ECDSA P-256 CA there
// when none exists. Files are written with owner-only permissions.
func LoadOrCreateCA(dir string, now time.Time) (*CA, error) {
	ca, err := LoadCA(dir)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return ca, err
	}
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: "Rollcall agent CA", Organization: []string{"Rollcall"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	if err := writePair(certPath, keyPath, der, k); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: k}, nil
}

// Pin returns the SHA-256 of the CA certificate's SubjectPublicKeyInfo, the
// value an enrolment token carries so a new agent trusts only this server.
func (ca *CA) Pin() []byte {
	sum := sha256.Sum256(ca.Cert.RawSubjectPublicKeyInfo)
	return sum[:]
}

// Pool returns a pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// LoadOrCreateServerCert returns the agent listener's certificate from dir,
// issuing a new one when none exists, when it does not cover every name in
// hosts, or when it expires within 30 days. The chain includes the CA
// certificate so that agents can check the pin during enrolment.
func (ca *CA) LoadOrCreateServerCert(dir string, hosts []string, now time.Time) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile)
	cert, key, err := loadPair(certPath, keyPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return tls.Certificate{}, err
	}
	if err != nil || !covers(cert, hosts) || now.Add(30*24*time.Hour).After(cert.NotAfter) || cert.CheckSignatureFrom(ca.Cert) != nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("generate listener key: %w", err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: newSerial(),
			Subject:      pkix.Name{CommonName: "Rollcall agent listener"},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(ServerValidity),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else if h != "" {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &k.PublicKey, ca.Key)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("create listener certificate: %w", err)
		}
		if err := writePair(certPath, keyPath, der, k); err != nil {
			return tls.Certificate{}, err
		}
		if cert, err = x509.ParseCertificate(der); err != nil {
			return tls.Certificate{}, err
		}
		key = k
	}
	return tls.Certificate{
		Certificate: [][]byte{cert.Raw, ca.Cert.Raw},
		PrivateKey:  key,
		Leaf:        cert,
	}, nil
}

// covers reports whether cert names every host.
func covers(cert *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
				return false
			}
		} else if h != "" && !slices.Contains(cert.DNSNames, h) {
			return false
		}
	}
	return true
}

// IssueClient signs a device's certificate request. The certificate's
// common name is the enrolment ID; it is valid for ClientValidity. The
// request's own signature is checked, and only ECDSA P-256/P-384 and
// Ed25519 keys are accepted.
func (ca *CA) IssueClient(csrDER []byte, commonName string, now time.Time) (*x509.Certificate, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("certificate request is malformed: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request signature is invalid: %w", err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, errors.New("certificate request key must be ECDSA P-256 or P-384")
		}
	default:
		if csr.PublicKeyAlgorithm != x509.Ed25519 {
			return nil, fmt.Errorf("certificate request key type %s is not accepted", csr.PublicKeyAlgorithm)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(),
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"Rollcall agent"}},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(ClientValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign client certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// VerifyClient checks that cert was issued by this CA for client use and is
// valid at now. The error says why not, in words an operator can act on.
func (ca *CA) VerifyClient(cert *x509.Certificate, now time.Time) error {
	_, err := cert.Verify(x509.VerifyOptions{
		Roots:       ca.Pool(),
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	var inv x509.CertificateInvalidError
	var unk x509.UnknownAuthorityError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		if now.Before(cert.NotBefore) {
			return fmt.Errorf("client certificate is not valid until %s", cert.NotBefore.UTC().Format(time.RFC3339))
		}
		return fmt.Errorf("client certificate expired on %s", cert.NotAfter.UTC().Format(time.RFC3339))
	case errors.As(err, &unk):
		return errors.New("client certificate was not issued by this server's CA")
	}
	return fmt.Errorf("client certificate rejected: %w", err)
}

// SerialHex returns the serial number of cert in lower-case hex.
func SerialHex(cert *x509.Certificate) string {
	return fmt.Sprintf("%x", cert.SerialNumber)
}

func newSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n
}

func loadPair(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("%s holds no PEM certificate", certPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", certPath, err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, nil, fmt.Errorf("%s holds no PEM key", keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", keyPath, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s: key cannot sign", keyPath)
	}
	return cert, signer, nil
}

func writePair(certPath, keyPath string, der []byte, key crypto.Signer) error {
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	if err := writeFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})); err != nil {
		return err
	}
	return writeFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// writeFile writes data with owner-only permissions, replacing any file
// atomically so a crash never leaves half a key.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
