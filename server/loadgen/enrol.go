package loadgen

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/agent/client"
	"github.com/rollcall/rollcall/inventory"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
	"github.com/rollcall/rollcall/server/admin"
	"github.com/rollcall/rollcall/server/pki"
	"github.com/rollcall/rollcall/server/secret"
	"github.com/rollcall/rollcall/server/vault"
)

// MaxAgents is the most agents one enrolment makes.
const MaxAgents = 1_000_000

// EnrollOptions configure a real enrolment.
type EnrollOptions struct {
	Token string // an enrolment token string with at least N uses left
	N     int
	// Workers is how many agents enrol at once (default 8).
	Workers int
	// Addr, when set, is dialled instead of the token's agent address.
	Addr        string
	AllowRemote bool
	Timeout     time.Duration // per Enroll call (default 30s)
}

// Enroll enrols N agents the way the agent does: each makes its own key
// pair and certificate request, trusts the server by the token's CA pin,
// and calls Enroll over TLS with its first report. It returns the fleet
// of the agents that enrolled, which may be fewer than N: the result says
// why the others failed. The error is for what stops every enrolment.
func Enroll(ctx context.Context, o EnrollOptions) (*Fleet, *Result, error) {
	t, err := client.ParseToken(o.Token)
	if err != nil {
		return nil, nil, err
	}
	addr := t.GetAgentAddress()
	if o.Addr != "" {
		addr = o.Addr
	}
	if err := CheckAddr(addr, o.AllowRemote); err != nil {
		return nil, nil, err
	}
	if o.N < 1 || o.N > MaxAgents {
		return nil, nil, fmt.Errorf("agents %d: give 1 to %d", o.N, MaxAgents)
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	f := &Fleet{Mode: ModeReal, Tag: newTag(), Server: addr, Created: time.Now().UTC()}
	res := &Result{Scenario: "enrol-" + ModeReal, Agents: o.N, Addrs: []string{addr}, Workers: o.Workers, Conns: describeConns(ConnsPerRequest)}
	var (
		hs handshakes
		mu sync.Mutex // guards f.CA
	)
	f.Agents = enrolEach(ctx, o.N, o.Workers, res, func(i int) (*Agent, error) {
		a, ca, err := enrollOne(ctx, f, t, addr, i, o.Timeout, &hs)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case f.CA == nil:
			f.CA = ca
		case !f.CA.Equal(ca):
			return nil, errors.New("the server sent a different CA certificate from the one earlier agents got")
		}
		return a, nil
	})
	res.Handshakes, res.HandshakesFailed = hs.made.Load(), hs.failed.Load()
	return f, res, nil
}

// enrolEach calls one for agents 0 to n-1 on workers goroutines until ctx
// ends, counts what succeeded and failed in res, with each success's
// latency and each failure's error, and returns the agents enrolled.
func enrolEach(ctx context.Context, n, workers int, res *Result, one func(i int) (*Agent, error)) []*Agent {
	var (
		errs   tally
		mu     sync.Mutex
		lat    Latencies
		agents = make([]*Agent, n)
		next   atomic.Int64
		wg     sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				a, err := one(i)
				took := time.Since(t0)
				mu.Lock()
				if err != nil {
					res.Failed++
					errs.add(err)
				} else {
					res.OK++
					agents[i] = a
					lat.Add(took)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Sent, res.Latency, res.Errors = res.OK+res.Failed, lat.Summary(), errs.sorted()
	if res.Elapsed > 0 {
		res.Throughput = float64(res.OK) / res.Elapsed.Seconds()
	}
	return slices.DeleteFunc(agents, func(a *Agent) bool { return a == nil })
}

// enrollOne enrols agent i over its own connection.
func enrollOne(ctx context.Context, f *Fleet, t *agentv1.EnrollmentToken, addr string, i int, timeout time.Duration, hs *handshakes) (*Agent, *x509.Certificate, error) {
	key, csr, err := newKey(f.laptop(&Agent{Index: i}, time.Now()).hostname())
	if err != nil {
		return nil, nil, err
	}
	a := &Agent{Index: i, reportAt: time.Now().UTC().Truncate(time.Second)}
	rep, hash := f.Report(a)
	host, _, _ := net.SplitHostPort(addr)
	conn, err := dial(addr, client.PinnedTLS(host, t.GetCaPin()), hs)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := agentv1.NewAgentServiceClient(conn).Enroll(ctx, &agentv1.EnrollRequest{
		TokenId: t.GetTokenId(), Secret: t.GetSecret(), CsrDer: csr, Report: rep, ReportHash: hash,
	})
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(resp.GetCaCertificateDer())
	if err != nil {
		return nil, nil, fmt.Errorf("server sent a bad CA certificate: %w", err)
	}
	if sum := sha256.Sum256(ca.RawSubjectPublicKeyInfo); !bytes.Equal(sum[:], t.GetCaPin()) {
		return nil, nil, errors.New("server's CA does not match the enrolment token's pin")
	}
	if err := a.setCert(key, resp.GetCertificateDer()); err != nil {
		return nil, nil, err
	}
	if a.DeviceID, err = uuid.Parse(resp.GetDeviceId()); err != nil {
		return nil, nil, fmt.Errorf("server sent a bad device ID %q", resp.GetDeviceId())
	}
	a.hash = hash
	return a, ca, nil
}

// newKey makes an agent's ECDSA P-256 key and a certificate request for
// it, as agent/client does.
func newKey(hostname string) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: hostname}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("make certificate request: %w", err)
	}
	return key, csr, nil
}

// setCert keeps key and the certificate issued for it, after checking
// that they belong together.
func (a *Agent) setCert(key *ecdsa.PrivateKey, certDER []byte) error {
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return fmt.Errorf("server sent a bad certificate: %w", err)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return errors.New("server sent a certificate that does not match the agent's key")
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	a.keyDER, a.certDER = kd, certDER
	return nil
}

// BulkOptions configure a bulk enrolment.
type BulkOptions struct {
	Store inventory.Store
	CA    *pki.CA // the server's CA, from its data directory
	// Vault seals the recovery keys of the agents' first reports, as the
	// server does; nil escrows none.
	Vault  *vault.Vault
	School string // slug; empty for the only school
	N      int
	// Workers is how many agents are stored at once (default 8).
	Workers int
	// Server is the agent address to remember in the fleet.
	Server string
}

// tokenUses is how many agents share one bulk token, so that concurrent
// enrolments do not all wait for one token's row.
const tokenUses = 1000

// BulkEnroll is the bulk path: it enrols N agents without the agent API.
// Each agent still makes its own key and certificate request, which the
// server's CA signs with [pki.CA.IssueClient], and its device is stored
// with its first report and verdict through
// [inventory.EnrollmentStore.EnrollDevice], with tokens made for the load
// (one per 1,000 agents) and revoked at the end. Unlike the Enroll call it
// writes no audit entry per device: the caller audits the load once.
func BulkEnroll(ctx context.Context, o BulkOptions) (*Fleet, *Result, error) {
	if o.Store == nil || o.CA == nil {
		return nil, nil, errors.New("bulk enrolment needs the server's store and CA")
	}
	if o.N < 1 || o.N > MaxAgents {
		return nil, nil, fmt.Errorf("agents %d: give 1 to %d", o.N, MaxAgents)
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	sc, err := admin.ResolveSchool(ctx, o.Store, o.School)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now().UTC()
	sum := sha256.Sum256(secret.Random(32)) // the secret itself is never needed
	tokens := make([]*inventory.EnrollToken, (o.N+tokenUses-1)/tokenUses)
	for i := range tokens {
		tokens[i] = &inventory.EnrollToken{SchoolID: sc.ID, SecretHash: sum[:], MaxUses: (o.N + len(tokens) - 1) / len(tokens), ExpiresAt: now.Add(24 * time.Hour), CreatedAt: now}
		if err := o.Store.CreateEnrollToken(ctx, tokens[i]); err != nil {
			return nil, nil, fmt.Errorf("bulk enrolment token: %w", err)
		}
	}
	f := &Fleet{Mode: ModeBulk, Tag: newTag(), Server: o.Server, CA: o.CA.Cert, Created: now}
	res := &Result{Scenario: "enrol-" + ModeBulk, Agents: o.N, Workers: o.Workers}
	f.Agents = enrolEach(ctx, o.N, o.Workers, res, func(i int) (*Agent, error) {
		return bulkOne(ctx, f, o, sc, tokens[i%len(tokens)], sum[:], i)
	})
	for _, t := range tokens {
		if err := o.Store.RevokeEnrollToken(context.WithoutCancel(ctx), t.ID, time.Now()); err != nil {
			return nil, nil, fmt.Errorf("revoke bulk enrolment token: %w", err)
		}
	}
	return f, res, nil
}

// bulkOne stores agent i through the store's enrolment path.
func bulkOne(ctx context.Context, f *Fleet, o BulkOptions, sc *inventory.School, tok *inventory.EnrollToken, secretHash []byte, i int) (*Agent, error) {
	now := time.Now()
	a := &Agent{Index: i, reportAt: now.UTC().Truncate(time.Second)}
	l := f.laptop(a, a.reportAt)
	key, csr, err := newKey(l.hostname())
	if err != nil {
		return nil, err
	}
	enrollmentID, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	cert, err := o.CA.IssueClient(csr, enrollmentID.String(), now)
	if err != nil {
		return nil, err
	}
	if err := a.setCert(key, cert.Raw); err != nil {
		return nil, err
	}
	_, a.hash = l.report()
	rep := l.domainReport()
	req := &inventory.EnrollRequest{
		TokenID: tok.ID, SecretHash: secretHash, Report: rep, ReportHash: a.hash, At: now,
		Enrollment: inventory.Enrollment{ID: enrollmentID, CertSerial: pki.SerialHex(cert), CertNotAfter: cert.NotAfter},
		Verdict:    inventory.JudgeVerdict(sc.Policy, &rep.Posture, now, now),
	}
	if o.Vault != nil {
		for _, k := range rep.RecoveryKeys {
			sealed, err := o.Vault.Seal([]byte(k.NumericalPassword), vault.RecoveryKeyContext(k.ProtectorID))
			if err != nil {
				return nil, fmt.Errorf("seal recovery key: %w", err)
			}
			req.RecoveryKeys = append(req.RecoveryKeys, inventory.EscrowedKey{ProtectorID: k.ProtectorID, Volume: k.Volume, Sealed: sealed})
		}
	}
	d, err := o.Store.EnrollDevice(ctx, req)
	if err != nil {
		return nil, err
	}
	a.DeviceID = d.ID
	return a, nil
}
