package loadgen

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// Enrolment modes, as a [Fleet] records them.
const (
	ModeReal = "real" // enrolled with the Enroll call over TLS
	ModeBulk = "bulk" // stored through the store's enrolment path
)

// Fleet is a set of simulated agents enrolled with one server.
type Fleet struct {
	Mode    string            // ModeReal or ModeBulk
	Tag     string            // four hex digits in every serial number and host name, unique per fleet
	Server  string            // the agent address the fleet enrolled with: Run's default
	CA      *x509.Certificate // the server's CA, which the agents verify it by
	Created time.Time
	Agents  []*Agent

	changed atomic.Bool // an agent's report changed since the fleet was loaded
}

// Agent is one simulated agent: the device it is, its key and certificate,
// and the report the server last accepted from it.
type Agent struct {
	Index    int // its place in the fleet, which its serial number and host name carry
	DeviceID uuid.UUID

	keyDER  []byte // PKCS#8
	certDER []byte

	// mu is held for the whole of each call the agent makes, so an agent
	// makes one call at a time, as the real one does.
	mu       sync.Mutex
	reportAt time.Time // when the report the server holds was collected
	hash     string    // its hash

	certOnce sync.Once
	cert     tls.Certificate
	certErr  error
}

// newTag returns a fleet tag.
func newTag() string {
	b := make([]byte, 2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// laptop returns what the agent reports about, as collected at at.
func (f *Fleet) laptop(a *Agent, at time.Time) laptop {
	return laptop{tag: f.Tag, i: a.Index, at: at.UTC().Truncate(time.Second)}
}

// Report returns agent a's current report, the one the server holds
// unless a call failed, and its hash. Call it when no run is using the
// fleet.
func (f *Fleet) Report(a *Agent) (*agentv1.Report, string) {
	return f.laptop(a, a.reportAt).report()
}

// Changed reports whether any agent's report changed since the fleet was
// made or loaded, so that it should be saved again.
func (f *Fleet) Changed() bool { return f.changed.Load() }

// certificate returns the agent's key and certificate for TLS, decoding
// them the first time.
func (a *Agent) certificate() (tls.Certificate, error) {
	a.certOnce.Do(func() {
		key, err := x509.ParsePKCS8PrivateKey(a.keyDER)
		if err != nil {
			a.certErr = fmt.Errorf("agent %d: key: %w", a.Index, err)
			return
		}
		k, ok := key.(*ecdsa.PrivateKey)
		if !ok {
			a.certErr = fmt.Errorf("agent %d: key is not ECDSA", a.Index)
			return
		}
		a.cert = tls.Certificate{Certificate: [][]byte{a.certDER}, PrivateKey: k}
	})
	return a.cert, a.certErr
}

// fleetFormat names the fleet file's layout.
const fleetFormat = "rollcall-loadgen-fleet/1"

type fleetFile struct {
	Format  string      `json:"format"`
	Mode    string      `json:"mode"`
	Tag     string      `json:"tag"`
	Server  string      `json:"server"`
	Created time.Time   `json:"created_at"`
	CA      []byte      `json:"ca_der"`
	Agents  []agentFile `json:"agents"`
}

type agentFile struct {
	Index    int       `json:"i"`
	DeviceID uuid.UUID `json:"device_id"`
	Key      []byte    `json:"key_der"` // PKCS#8, base64
	Cert     []byte    `json:"cert_der"`
	ReportAt time.Time `json:"report_at"`
	Hash     string    `json:"report_hash"`
}

// Save writes the fleet to path, with owner-only permissions since it
// holds every agent's private key. The file is replaced by one rename,
// so a crash leaves the old fleet or the new one.
func (f *Fleet) Save(path string) error {
	ff := fleetFile{Format: fleetFormat, Mode: f.Mode, Tag: f.Tag, Server: f.Server, Created: f.Created, CA: f.CA.Raw,
		Agents: make([]agentFile, len(f.Agents))}
	for i, a := range f.Agents {
		a.mu.Lock()
		ff.Agents[i] = agentFile{Index: a.Index, DeviceID: a.DeviceID, Key: a.keyDER, Cert: a.certDER, ReportAt: a.reportAt, Hash: a.hash}
		a.mu.Unlock()
	}
	if err := writeFleet(path, &ff); err != nil {
		return fmt.Errorf("save fleet: %w", err)
	}
	f.changed.Store(false)
	return nil
}

// writeFleet writes ff to a temporary file beside path, mode 0600, and
// renames it to path.
func writeFleet(path string, ff *fleetFile) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fleet-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<20)
	err = tmp.Chmod(0o600)
	if err == nil {
		err = json.NewEncoder(w).Encode(ff)
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// LoadFleet reads a fleet saved by [Fleet.Save]. It refuses a file that
// others may read, since it holds private keys.
func LoadFleet(path string) (*Fleet, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load fleet: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("load fleet: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("fleet file %s may be read by others (mode %04o) and holds private keys: chmod 600 it", path, st.Mode().Perm())
	}
	var ff fleetFile
	if err := json.NewDecoder(bufio.NewReaderSize(fh, 1<<20)).Decode(&ff); err != nil {
		return nil, fmt.Errorf("fleet file %s is damaged: %w", path, err)
	}
	if ff.Format != fleetFormat {
		return nil, fmt.Errorf("%s is not a fleet file (format %q, want %q)", path, ff.Format, fleetFormat)
	}
	ca, err := x509.ParseCertificate(ff.CA)
	if err != nil {
		return nil, fmt.Errorf("fleet file %s: CA certificate: %w", path, err)
	}
	if len(ff.Agents) == 0 {
		return nil, fmt.Errorf("fleet file %s holds no agents", path)
	}
	f := &Fleet{Mode: ff.Mode, Tag: ff.Tag, Server: ff.Server, CA: ca, Created: ff.Created, Agents: make([]*Agent, len(ff.Agents))}
	for i, af := range ff.Agents {
		if af.DeviceID == uuid.Nil || len(af.Key) == 0 || len(af.Cert) == 0 || !validHash(af.Hash) {
			return nil, fmt.Errorf("fleet file %s: agent %d lacks its device ID, key, certificate or report hash", path, i)
		}
		f.Agents[i] = &Agent{Index: af.Index, DeviceID: af.DeviceID, keyDER: af.Key, certDER: af.Cert, reportAt: af.ReportAt, hash: af.Hash}
	}
	return f, nil
}

func validHash(h string) bool {
	b, err := hex.DecodeString(h)
	return err == nil && len(b) == 32
}

// ErrFleetExists is returned by [CheckNewFleet] for a file already there.
var ErrFleetExists = errors.New("fleet file exists")

// CheckNewFleet returns an error unless path names no file yet and its
// folder exists, so that an enrolment is not lost for want of a place to
// save it.
func CheckNewFleet(path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%w: %s holds a fleet already; give a new file, or remove it (its agents stay enrolled on the server)", ErrFleetExists, path)
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return fmt.Errorf("fleet file %s: no folder %s to save it in", path, filepath.Dir(path))
	}
	return nil
}
