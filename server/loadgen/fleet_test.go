package loadgen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/server/pki"
)

// testFleet returns a fleet of n agents with certificates from a CA of
// its own, without a server.
func testFleet(t *testing.T, n int) *Fleet {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := &Fleet{Mode: ModeBulk, Tag: newTag(), Server: "127.0.0.1:7443", CA: ca.Cert, Created: time.Now().UTC().Truncate(time.Second)}
	for i := range n {
		a := &Agent{Index: i, DeviceID: uuid.New(), reportAt: time.Now().UTC().Truncate(time.Second)}
		key, csr, err := newKey("x")
		if err != nil {
			t.Fatal(err)
		}
		cert, err := ca.IssueClient(csr, uuid.NewString(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := a.setCert(key, cert.Raw); err != nil {
			t.Fatal(err)
		}
		_, a.hash = f.Report(a)
		f.Agents = append(f.Agents, a)
	}
	return f
}

func TestFleet_SaveLoad(t *testing.T) {
	f := testFleet(t, 5)
	path := filepath.Join(t.TempDir(), "fleet.json")
	if err := CheckNewFleet(path); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	if err := CheckNewFleet(path); err == nil {
		t.Error("CheckNewFleet accepts a file that exists")
	}
	got, err := LoadFleet(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tag != f.Tag || got.Mode != f.Mode || got.Server != f.Server || !got.Created.Equal(f.Created) || !got.CA.Equal(f.CA) || len(got.Agents) != 5 {
		t.Fatalf("loaded %+v, saved %+v", got, f)
	}
	for i, a := range got.Agents {
		w := f.Agents[i]
		if a.Index != w.Index || a.DeviceID != w.DeviceID || a.hash != w.hash || !a.reportAt.Equal(w.reportAt) {
			t.Errorf("agent %d loaded as %+v", i, a)
		}
		if _, h := got.Report(a); h != a.hash {
			t.Errorf("agent %d: report hash %s after loading, %s saved", i, h, a.hash)
		}
		c, err := a.certificate()
		if err != nil || c.PrivateKey == nil {
			t.Errorf("agent %d: certificate: %v", i, err)
		}
	}
}

func TestFleet_LoadRefuses(t *testing.T) {
	good := filepath.Join(t.TempDir(), "fleet.json")
	if err := testFleet(t, 2).Save(good); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data string
		mode os.FileMode
		want string
	}{
		{"ReadableByOthers", string(b), 0o644, "chmod 600"},
		{"Damaged", string(b[:len(b)/2]), 0o600, "damaged"},
		{"NotAFleet", `{"format":"something else"}`, 0o600, "not a fleet file"},
		{"NoAgents", strings.Replace(string(b), `"agents":[`, `"agents":[],"x":[`, 1), 0o600, "no agents"},
		{"NoKey", strings.Replace(string(b), `"key_der":"`, `"key_der":"","x":"`, 1), 0o600, "lacks"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fleet.json")
			if err := os.WriteFile(path, []byte(tc.data), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tc.mode) // whatever the umask
			_, err := LoadFleet(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

// TestFleet_Reports checks the simulated laptops: unique identities,
// valid reports, and the share of each failing.
func TestFleet_Reports(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	serials, hosts, macs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	off, stale := 0, 0
	for i := range 1500 {
		l := laptop{tag: "beef", i: i, at: now}
		rep, hash := l.report()
		h := rep.GetHardware()
		if serials[h.GetSerial()] || hosts[h.GetHostname()] {
			t.Fatalf("agent %d repeats serial %s or host name %s", i, h.GetSerial(), h.GetHostname())
		}
		serials[h.GetSerial()], hosts[h.GetHostname()] = true, true
		for _, m := range h.GetMacAddresses() {
			if macs[m] {
				t.Errorf("agent %d repeats MAC %s", i, m)
			}
			macs[m] = true
		}
		if len(h.GetHostname()) > 15 {
			t.Errorf("host name %s is longer than Windows allows", h.GetHostname())
		}
		if len(hash) != 64 {
			t.Errorf("hash %q", hash)
		}
		dr := l.domainReport()
		if err := dr.Validate(); err != nil {
			t.Errorf("agent %d: %v", i, err)
		}
		if rep.GetPosture().GetEncryption().GetVolumes()[0].GetState() != "encrypted" {
			off++
		} else if len(dr.RecoveryKeys) != 1 || len(dr.RecoveryKeys[0].NumericalPassword) != 55 {
			t.Errorf("agent %d: recovery keys %d", i, len(dr.RecoveryKeys))
		}
		if !rep.GetPosture().GetAntivirus().GetProducts()[1].GetUpToDate() {
			stale++
		}
		moved := laptop{tag: "beef", i: i, at: now.Add(time.Minute)}
		if _, h2 := moved.report(); h2 == hash {
			t.Errorf("agent %d: a report collected later has the same hash", i)
		}
	}
	if off != 500 || stale != 300 {
		t.Errorf("%d of 1500 without BitLocker and %d with old definitions, want 500 and 300", off, stale)
	}
}
