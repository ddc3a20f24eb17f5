package installers_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The version the tests stamp, so they can see it arrive in every
// binary and package.
const (
	testVersion    = "9.8.7+3.gtest123"
	testMSIVersion = "9.8.7"
)

// build is the one build of every installer that the tests share.
var build struct {
	once sync.Once
	dir  string // the output folder
	cert string // the throwaway signing certificate, PEM
	log  string // what build.sh printed
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(filepath.Dir(build.dir))
	}
	os.Exit(code)
}

// built runs build.sh once, signing with a throwaway certificate, and
// returns the folder it wrote the installers to.
func built(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		tmp, err := os.MkdirTemp("", "rollcall-installers-")
		if err != nil {
			build.err = err
			return
		}
		build.dir = filepath.Join(tmp, "dist")
		build.cert = filepath.Join(tmp, "sign.crt")
		key := filepath.Join(tmp, "sign.key")
		if build.err = signingCert(build.cert, key); build.err != nil {
			return
		}
		cmd := exec.Command("./build.sh", build.dir)
		cmd.Env = append(os.Environ(), "VERSION="+testVersion, "MSI_VERSION="+testMSIVersion,
			"SIGN_CERT="+build.cert, "SIGN_KEY="+key, "PATH="+toolPath())
		out, err := cmd.CombinedOutput()
		build.log = string(out)
		if err != nil {
			build.err = fmt.Errorf("build.sh: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.dir
}

// toolPath is PATH with the project's own tools (.tools, where make
// installs nfpm) first.
func toolPath() string {
	tools, _ := filepath.Abs(filepath.Join("..", ".tools"))
	return tools + string(os.PathListSeparator) + os.Getenv("PATH")
}

// tool returns the path of a command the checks need, failing the test
// with what installs it when it is missing.
func tool(t *testing.T, name string) string {
	t.Helper()
	for _, dir := range filepath.SplitList(toolPath()) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatalf("%s is missing: run `make deps tools` (they install what the installer checks need)", name)
	return ""
}

// run runs a command and returns its output, failing the test if it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(tool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// signingCert writes a throwaway self-signed code-signing certificate
// and its key, in PEM, as an operator's would be.
func signingCert(certFile, keyFile string) error {
	key, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "Rollcall test signing", Organization: []string{"Rollcall tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
}

// TestVersion checks version.sh in a throwaway repository: before any
// tag, on a tag, and commits after it.
func TestVersion(t *testing.T) {
	repo := t.TempDir()
	if err := os.MkdirAll(filepath.Join(repo, "installers"), 0o755); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("version.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "installers", "version.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	version := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(filepath.Join(repo, "installers", "version.sh"), args...).Output()
		if err != nil {
			t.Fatalf("version.sh %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	// dirty changes a tracked file, or puts it back.
	dirty := func(on bool) {
		t.Helper()
		text := script
		if on {
			text = append(slices.Clone(script), '\n')
		}
		if err := os.WriteFile(filepath.Join(repo, "installers", "version.sh"), text, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-q", "-m", "one")
	git("commit", "-q", "--allow-empty", "-m", "two")
	steps := []struct {
		name     string
		do       func()
		full     string // with the hash replaced by HASH
		msi      string
		wantHash bool
	}{
		{"NoTag", func() {}, "0.0.2+gHASH", "0.0.2", true},
		{"NoTagDirty", func() { dirty(true) }, "0.0.2+gHASH.dirty", "0.0.2", true},
		{"Tagged", func() { dirty(false); git("tag", "v1.4.0") }, "1.4.0", "1.4.0", false},
		{"TaggedDirty", func() { dirty(true) }, "1.4.0+0.gHASH.dirty", "1.4.0", true},
		{"AfterTag", func() { dirty(false); git("commit", "-q", "--allow-empty", "-m", "three") }, "1.4.0+1.gHASH", "1.4.0", true},
		{"AfterTagDirty", func() { dirty(true) }, "1.4.0+1.gHASH.dirty", "1.4.0", true},
		{"TwoPartTag", func() {
			dirty(false)
			git("commit", "-q", "--allow-empty", "-m", "four")
			git("tag", "v1.5")
		}, "1.5", "1.5.0", false},
		{"PrereleaseTag", func() {
			git("commit", "-q", "--allow-empty", "-m", "five")
			git("tag", "v2.0.0-rc1")
			git("commit", "-q", "--allow-empty", "-m", "six")
			git("commit", "-q", "--allow-empty", "-m", "seven")
		}, "2.0.0-rc1+2.gHASH", "2.0.0", true},
	}
	for _, s := range steps {
		s.do()
		hash, _ := exec.Command("git", "-C", repo, "rev-parse", "--short=7", "HEAD").Output()
		want := strings.ReplaceAll(s.full, "HASH", strings.TrimSpace(string(hash)))
		if got := version(); got != want {
			t.Errorf("%s: version = %q, want %q", s.name, got, want)
		}
		if got := version("--msi"); got != s.msi {
			t.Errorf("%s: MSI version = %q, want %q", s.name, got, s.msi)
		}
	}
}

// TestVersionShallowClone checks that version.sh refuses a shallow
// clone, whose commit count would give a version older than the last.
func TestVersionShallowClone(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "clone")
	script, err := os.ReadFile("version.sh")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(src, "installers"), 0o755)
	if err := os.WriteFile(filepath.Join(src, "installers", "version.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-C", src, "init", "-q"},
		{"-C", src, "add", "."},
		{"-C", src, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "one"},
		{"-C", src, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "two"},
		{"clone", "-q", "--depth", "1", "file://" + src, dst},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	out, err := exec.Command(filepath.Join(dst, "installers", "version.sh")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "shallow clone") {
		t.Errorf("version.sh in a shallow clone = %q, %v; want it to refuse", out, err)
	}
}
