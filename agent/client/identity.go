// Package client is the agent's side of the agent API: enrolment with a
// token, the device's identity on disk, and the loop that delivers reports
// and events from the outbox.
package client

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// Files in the agent's data directory.
const (
	// IdentityFile holds the device's private key and its certificate
	// together, so that renewal replaces both in one rename.
	IdentityFile = "client.pem"
	CAFile       = "ca.crt"
	StateFile    = "agent.json"
)

// TokenPrefix starts every enrolment token string.
const TokenPrefix = "rc1_"

// EncodeToken returns the string form of an enrolment token: the prefix
// followed by the unpadded base64url of the message.
func EncodeToken(t *agentv1.EnrollmentToken) (string, error) {
	b, err := proto.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("encode token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// ParseToken decodes an enrolment token string. The error says what is
// wrong in words a technician can act on.
func ParseToken(s string) (*agentv1.EnrollmentToken, error) {
	s = strings.TrimSpace(s)
	body, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok {
		return nil, errors.New("enrolment token must start with " + TokenPrefix + ": copy the whole token printed by `rollcall enroll-token create`")
	}
	b, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, errors.New("enrolment token is damaged (not base64url): copy it again in full")
	}
	t := &agentv1.EnrollmentToken{}
	if err := proto.Unmarshal(b, t); err != nil {
		return nil, errors.New("enrolment token is damaged: copy it again in full")
	}
	switch {
	case t.GetAgentAddress() == "":
		return nil, errors.New("enrolment token names no server address")
	case len(t.GetCaPin()) != sha256.Size:
		return nil, errors.New("enrolment token has no valid CA pin")
	case t.GetTokenId() == "" || len(t.GetSecret()) == 0:
		return nil, errors.New("enrolment token has no ID or secret")
	}
	if _, _, err := net.SplitHostPort(t.GetAgentAddress()); err != nil {
		return nil, fmt.Errorf("enrolment token's server address %q is not host:port", t.GetAgentAddress())
	}
	return t, nil
}

// State is what the agent remembers about its enrolment.
type State struct {
	ServerAddr string    `json:"server_addr"`
	DeviceID   string    `json:"device_id"`
	EnrolledAt time.Time `json:"enrolled_at"`
}

// Identity is the device's key, certificate and server in its data
// directory.
type Identity struct {
	Dir   string
	State State
	Cert  tls.Certificate
	CA    *x509.Certificate
}

// ErrNotEnrolled is returned by LoadIdentity when the agent has not
// enrolled yet.
var ErrNotEnrolled = errors.New("this device is not enrolled: run `rollcall-agent enroll --token <token>` first")

// LoadIdentity reads the identity from dir.
func LoadIdentity(dir string) (*Identity, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotEnrolled
	} else if err != nil {
		return nil, err
	}
	id := &Identity{Dir: dir}
	if err := json.Unmarshal(b, &id.State); err != nil {
		return nil, fmt.Errorf("%s is damaged: %w", StateFile, err)
	}
	pair := filepath.Join(dir, IdentityFile)
	id.Cert, err = tls.LoadX509KeyPair(pair, pair)
	if err != nil {
		return nil, fmt.Errorf("load client certificate: %w", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, fmt.Errorf("load server CA: %w", err)
	}
	blk, _ := pem.Decode(caPEM)
	if blk == nil {
		return nil, fmt.Errorf("%s holds no certificate", CAFile)
	}
	if id.CA, err = x509.ParseCertificate(blk.Bytes); err != nil {
		return nil, fmt.Errorf("parse %s: %w", CAFile, err)
	}
	return id, nil
}

// NotAfter returns when the client certificate expires.
func (id *Identity) NotAfter() time.Time {
	if id.Cert.Leaf == nil {
		return time.Time{}
	}
	return id.Cert.Leaf.NotAfter
}

// Dial connects to the server with mutual TLS.
func (id *Identity) Dial() (*grpc.ClientConn, error) {
	host, _, err := net.SplitHostPort(id.State.ServerAddr)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(id.CA)
	cfg := &tls.Config{
		Certificates: []tls.Certificate{id.Cert},
		RootCAs:      pool,
		ServerName:   host,
		MinVersion:   tls.VersionTLS12,
	}
	return grpc.NewClient(id.State.ServerAddr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
}

// PinnedTLS returns a TLS configuration that trusts a server only if its
// chain contains a CA whose public key has the given SHA-256 pin and that
// CA signed the server's certificate for host: how a device that has no
// CA yet trusts the server it enrols with.
func PinnedTLS(host string, pin []byte) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyConnection's pin check below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			for _, c := range cs.PeerCertificates[1:] {
				sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
				if !c.IsCA || !bytes.Equal(sum[:], pin) {
					continue
				}
				pool := x509.NewCertPool()
				pool.AddCert(c)
				_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: host})
				if err != nil {
					return fmt.Errorf("server certificate does not verify against the pinned CA: %w", err)
				}
				return nil
			}
			return errors.New("server's CA does not match the enrolment token's pin: this is not the server that made the token")
		},
	}
}

// Enroll enrols the device with token and writes its identity into dir. The
// key pair is made here and the private key never leaves the device.
func Enroll(ctx context.Context, dir, token string, report *agentv1.Report, hash string) (*Identity, error) {
	t, err := ParseToken(token)
	if err != nil {
		return nil, err
	}
	if _, err := LoadIdentity(dir); err == nil {
		return nil, fmt.Errorf("this device is already enrolled (identity in %s): remove that folder's files to enrol again", dir)
	}
	if err := SecureDir(dir); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: report.GetHardware().GetHostname()},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("make certificate request: %w", err)
	}
	host, _, _ := net.SplitHostPort(t.GetAgentAddress())
	conn, err := grpc.NewClient(t.GetAgentAddress(), grpc.WithTransportCredentials(credentials.NewTLS(PinnedTLS(host, t.GetCaPin()))))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	resp, err := agentv1.NewAgentServiceClient(conn).Enroll(ctx, &agentv1.EnrollRequest{
		TokenId:    t.GetTokenId(),
		Secret:     t.GetSecret(),
		CsrDer:     csr,
		Report:     report,
		ReportHash: hash,
	})
	if err != nil {
		return nil, describe(err, t.GetAgentAddress())
	}
	ca, err := x509.ParseCertificate(resp.GetCaCertificateDer())
	if err != nil {
		return nil, fmt.Errorf("server sent a bad CA certificate: %w", err)
	}
	if sum := sha256.Sum256(ca.RawSubjectPublicKeyInfo); !bytes.Equal(sum[:], t.GetCaPin()) {
		return nil, errors.New("server's CA does not match the enrolment token's pin")
	}
	id := &Identity{Dir: dir, CA: ca, State: State{
		ServerAddr: t.GetAgentAddress(),
		DeviceID:   resp.GetDeviceId(),
		EnrolledAt: time.Now().UTC(),
	}}
	if err := id.saveCert(key, resp.GetCertificateDer()); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, CAFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})); err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(id.State, "", "  ")
	if err := writeFile(filepath.Join(dir, StateFile), b); err != nil {
		return nil, err
	}
	return id, nil
}

// saveCert writes the key and certificate into one file and loads them as
// the identity's TLS certificate. The file is replaced by a single rename,
// so a crash leaves the old pair or the new one, never a mixture.
func (id *Identity) saveCert(key *ecdsa.PrivateKey, certDER []byte) error {
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("server sent a certificate that does not match the key: %w", err)
	}
	if err := writeFile(filepath.Join(id.Dir, IdentityFile), append(certPEM, keyPEM...)); err != nil {
		return err
	}
	id.Cert = pair
	return nil
}

// Renew asks the server for a new certificate with a new key and saves it.
func (id *Identity) Renew(ctx context.Context, c agentv1.AgentServiceClient) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return err
	}
	resp, err := c.RenewCertificate(ctx, &agentv1.RenewCertificateRequest{CsrDer: csr})
	if err != nil {
		return describe(err, id.State.ServerAddr)
	}
	return id.saveCert(key, resp.GetCertificateDer())
}

// writeFile writes data with owner-only permissions via a temporary file,
// so a crash never leaves half a file.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
