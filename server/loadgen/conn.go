package loadgen

import (
	"container/list"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// CheckAddr returns an error unless addr is host:port with a loopback
// host ("localhost" or a loopback IP address), or allowRemote is set. Host
// names other than localhost are refused, not looked up: a name can
// point elsewhere tomorrow.
func CheckAddr(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return fmt.Errorf("address %q: give host:port, such as 127.0.0.1:7443", addr)
	}
	if allowRemote {
		return nil
	}
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || strings.EqualFold(host, "localhost") {
		return nil
	}
	return fmt.Errorf("address %s is not on this machine: loadgen sends only to loopback addresses unless remote ones are allowed (--allow-remote), so that it is never pointed at someone else's server by accident", addr)
}

// Connection policies for [Options.Conns] other than a bound.
const (
	ConnsPerAgent   = 0  // each agent keeps its own connection to each address
	ConnsPerRequest = -1 // a new connection, and so a handshake, for every request
)

// handshakes counts the TLS handshakes of every connection made.
type handshakes struct {
	made, failed atomic.Int64
}

// countingCreds counts the client handshakes of the credentials it wraps.
type countingCreds struct {
	credentials.TransportCredentials
	n *handshakes
}

func (c countingCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c.n.made.Add(1)
	conn, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, raw)
	if err != nil {
		c.n.failed.Add(1)
	}
	return conn, info, err
}

func (c countingCreds) Clone() credentials.TransportCredentials {
	return countingCreds{TransportCredentials: c.TransportCredentials.Clone(), n: c.n}
}

// dial returns a connection to addr that presents cert, trusts only the
// server certificates roots verify, and counts its handshakes in n. The
// connection is made at the first call.
func dial(addr string, tc *tls.Config, n *handshakes) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(countingCreds{TransportCredentials: credentials.NewTLS(tc), n: n}),
		// Small buffers: the client may hold a connection per agent. The
		// server sees the same frames.
		grpc.WithReadBufferSize(8<<10), grpc.WithWriteBufferSize(8<<10),
	)
}

// agentTLS is the TLS configuration of an agent: its own certificate,
// and the server verified by the CA for the host it dials, as
// agent/client's Identity.Dial does.
func agentTLS(cert tls.Certificate, roots *x509.CertPool, addr string) *tls.Config {
	host, _, _ := net.SplitHostPort(addr)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12}
}

// pool holds the live connections of the fleet's agents: one per agent
// and address, at most max of them (0: no bound), the least recently used
// closed first. A connection in use is closed only when its call ends.
type pool struct {
	addrs []string
	roots *x509.CertPool
	max   int
	n     handshakes

	mu   sync.Mutex
	live map[connKey]*list.Element // of *pooled
	lru  list.List                 // front: most recently used
}

type connKey struct{ agent, addr int }

type pooled struct {
	key     connKey
	conn    *grpc.ClientConn
	users   int
	evicted bool
}

func newPool(addrs []string, ca *x509.Certificate, max int) *pool {
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &pool{addrs: addrs, roots: roots, max: max, live: map[connKey]*list.Element{}}
}

// get returns a connection for agent a (at place p in the fleet) to
// address addr, and the function to call when the call is done with it.
func (p *pool) get(a *Agent, place, addr int) (*grpc.ClientConn, func(), error) {
	if p.max == ConnsPerRequest {
		conn, err := p.dial(a, addr)
		if err != nil {
			return nil, nil, err
		}
		return conn, func() { conn.Close() }, nil
	}
	k := connKey{place, addr}
	p.mu.Lock()
	if el, ok := p.live[k]; ok {
		conn, done := p.use(el)
		p.mu.Unlock()
		return conn, done, nil
	}
	p.mu.Unlock()
	// Dialling makes no connection yet (that happens at the first call),
	// but it does decode the agent's key: do it unlocked.
	conn, err := p.dial(a, addr)
	if err != nil {
		return nil, nil, err
	}
	p.mu.Lock()
	if el, ok := p.live[k]; ok { // another call of the agent's got there first
		pooledConn, done := p.use(el)
		p.mu.Unlock()
		conn.Close()
		return pooledConn, done, nil
	}
	pc := &pooled{key: k, conn: conn, users: 1}
	p.live[k] = p.lru.PushFront(pc)
	var idle []*grpc.ClientConn
	if p.max > 0 {
		idle = p.evict()
	}
	p.mu.Unlock()
	// Closing waits for the connection's goroutines: never under the lock.
	for _, c := range idle {
		c.Close()
	}
	return conn, func() { p.release(pc) }, nil
}

// use counts one more user of the pooled connection in el and returns it
// with the function that releases it. Call it with p.mu held.
func (p *pool) use(el *list.Element) (*grpc.ClientConn, func()) {
	pc := el.Value.(*pooled)
	pc.users++
	p.lru.MoveToFront(el)
	return pc.conn, func() { p.release(pc) }
}

// evict drops the least recently used connections beyond the bound. It
// returns those not in use, for the caller to close; the others are
// closed when their calls end.
func (p *pool) evict() []*grpc.ClientConn {
	var idle []*grpc.ClientConn
	for el := p.lru.Back(); el != nil && p.lru.Len() > p.max; {
		prev := el.Prev()
		pc := el.Value.(*pooled)
		p.lru.Remove(el)
		delete(p.live, pc.key)
		pc.evicted = true
		if pc.users == 0 {
			idle = append(idle, pc.conn)
		}
		el = prev
	}
	return idle
}

func (p *pool) release(pc *pooled) {
	p.mu.Lock()
	pc.users--
	last := pc.evicted && pc.users == 0
	p.mu.Unlock()
	if last {
		pc.conn.Close()
	}
}

func (p *pool) dial(a *Agent, addr int) (*grpc.ClientConn, error) {
	cert, err := a.certificate()
	if err != nil {
		return nil, err
	}
	return dial(p.addrs[addr], agentTLS(cert, p.roots, p.addrs[addr]), &p.n)
}

// close closes every connection left.
func (p *pool) close() {
	p.mu.Lock()
	live := p.live
	p.live = map[connKey]*list.Element{}
	p.lru.Init()
	p.mu.Unlock()
	for _, el := range live {
		el.Value.(*pooled).conn.Close()
	}
}

// describeConns says in words what a connection policy is.
func describeConns(conns int) string {
	switch {
	case conns == ConnsPerAgent:
		return "one per agent, kept"
	case conns == ConnsPerRequest:
		return "a new one per request"
	}
	return fmt.Sprintf("at most %d live, least recently used closed first", conns)
}
