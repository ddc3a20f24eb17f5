package installers_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/macho"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// macArchive unpacks the macOS archive into a temporary folder, and
// returns each file's header and the folder.
func macArchive(t *testing.T) (map[string]*tar.Header, string) {
	t.Helper()
	path := filepath.Join(built(t), "rollcall-agent-"+testVersion+"-macos-universal.tar.gz")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the macOS archive: %v\n%s", err, build.log)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*tar.Header{}
	dir := t.TempDir()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "rollcall-agent-"+testVersion+"-macos/")
		if h.Typeflag != tar.TypeReg {
			continue
		}
		files[name] = h
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return files, dir
}

// TestMacArchive checks the macOS archive: its files and modes, the
// universal binary's two slices with the stamped version, the
// LaunchDaemon, and install.sh and uninstall.sh run into a throwaway
// root.
func TestMacArchive(t *testing.T) {
	files, macDir := macArchive(t)
	for _, tc := range []struct {
		name string
		mode int64
	}{
		{"rollcall-agent", 0o755},
		{"install.sh", 0o755},
		{"uninstall.sh", 0o755},
		{"com.rollcall.agent.plist", 0o644},
		{"README.txt", 0o644},
	} {
		h, ok := files[tc.name]
		switch {
		case !ok:
			t.Errorf("the archive has no %s", tc.name)
		case h.Mode&0o7777 != tc.mode || h.Uid != 0 || h.Gid != 0:
			t.Errorf("%s: mode %o owner %d:%d, want %o root", tc.name, h.Mode, h.Uid, h.Gid, tc.mode)
		}
	}

	t.Run("UniversalBinary", func(t *testing.T) {
		ff, err := macho.OpenFat(filepath.Join(macDir, "rollcall-agent"))
		if err != nil {
			t.Fatalf("not a universal binary: %v", err)
		}
		defer ff.Close()
		cpus := map[macho.Cpu]bool{}
		for _, a := range ff.Arches {
			cpus[a.Cpu] = true
			if a.Type != macho.TypeExec {
				t.Errorf("%s slice is not an executable", a.Cpu)
			}
			if align := a.Offset % (1 << a.Align); align != 0 {
				t.Errorf("%s slice at offset %d is not aligned to 2^%d", a.Cpu, a.Offset, a.Align)
			}
			// The linker signs arm64 executables (ad hoc): a Mac refuses
			// to run one without, so the join must keep it.
			if a.Cpu == macho.CpuArm64 && !hasCodeSignature(a.File) {
				t.Error("the arm64 slice lost its code signature")
			}
		}
		if len(ff.Arches) != 2 || !cpus[macho.CpuAmd64] || !cpus[macho.CpuArm64] {
			t.Errorf("slices %v, want amd64 and arm64", cpus)
		}
		b, _ := os.ReadFile(filepath.Join(macDir, "rollcall-agent"))
		if n := bytes.Count(b, []byte(testVersion)); n < 2 {
			t.Errorf("the stamped version %s is in %d slices, want both", testVersion, n)
		}
	})

	t.Run("LaunchDaemon", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(macDir, "com.rollcall.agent.plist"))
		if err != nil {
			t.Fatal(err)
		}
		got := plistDict(t, b)
		want := map[string]string{
			"Label":            "com.rollcall.agent",
			"ProgramArguments": "/usr/local/bin/rollcall-agent run --data-dir /Library/Application Support/Rollcall",
			"RunAtLoad":        "true",
			"KeepAlive":        "true",
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("plist %s = %q, want %q", k, got[k], v)
			}
		}
	})

	t.Run("InstallIntoRoot", func(t *testing.T) {
		root := t.TempDir()
		tokenFile := filepath.Join(t.TempDir(), "token.txt")
		if err := os.WriteFile(tokenFile, []byte("  tok-123\r\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out := runScript(t, macDir, root, "", "install.sh", "--token-file", tokenFile)
		if !strings.Contains(out, "installed under") {
			t.Errorf("install.sh says %q", out)
		}
		for _, tc := range []struct {
			path string
			mode os.FileMode
		}{
			{"usr/local/bin/rollcall-agent", 0o755},
			{"Library/LaunchDaemons/com.rollcall.agent.plist", 0o644},
			{"Library/Application Support/Rollcall", 0o700 | os.ModeDir},
			{"Library/Application Support/Rollcall/enroll-token", 0o600},
		} {
			fi, err := os.Stat(filepath.Join(root, tc.path))
			if err != nil {
				t.Errorf("after install.sh: %v", err)
			} else if fi.Mode() != tc.mode {
				t.Errorf("%s has mode %v, want %v", tc.path, fi.Mode(), tc.mode)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(root, "Library/Application Support/Rollcall/enroll-token")); string(b) != "tok-123\n" {
			t.Errorf("token file holds %q", b)
		}
		// The token on stdin, as an upgrade that enrols again would give it.
		os.Remove(filepath.Join(root, "Library/Application Support/Rollcall/enroll-token"))
		runScript(t, macDir, root, "tok-456\n", "install.sh", "--token-file", "-")
		if b, _ := os.ReadFile(filepath.Join(root, "Library/Application Support/Rollcall/enroll-token")); string(b) != "tok-456\n" {
			t.Errorf("token file from stdin holds %q", b)
		}
		for _, args := range [][]string{
			{"--token", "tok-on-the-command-line"},
			{"--token-file"},
			{"--token-file", filepath.Join(root, "missing")},
			{"--token-file", "-"}, // an empty stdin
			{"--bogus"},
		} {
			cmd := exec.Command(filepath.Join(macDir, "install.sh"), args...)
			cmd.Env = append(os.Environ(), "ROLLCALL_ROOT="+t.TempDir())
			if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "install.sh: ") {
				t.Errorf("install.sh %q = %v %q, want it refused with a reason", args, err, out)
			}
		}
		runScript(t, macDir, root, "", "uninstall.sh")
		if _, err := os.Stat(filepath.Join(root, "usr/local/bin/rollcall-agent")); !os.IsNotExist(err) {
			t.Errorf("uninstall.sh left the binary: %v", err)
		}
		if _, err := os.Stat(filepath.Join(root, "Library/Application Support/Rollcall")); err != nil {
			t.Errorf("uninstall.sh removed the enrolment without --purge: %v", err)
		}
		runScript(t, macDir, root, "", "uninstall.sh", "--purge")
		if _, err := os.Stat(filepath.Join(root, "Library/Application Support/Rollcall")); !os.IsNotExist(err) {
			t.Errorf("uninstall.sh --purge kept the enrolment: %v", err)
		}
	})
}

// runScript runs one of the archive's scripts, unpacked in dir, with
// ROLLCALL_ROOT=root and stdin on its standard input.
func runScript(t *testing.T, dir, root, stdin, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(dir, name), args...)
	cmd.Env = append(os.Environ(), "ROLLCALL_ROOT="+root)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// hasCodeSignature reports whether a Mach-O file has an
// LC_CODE_SIGNATURE load command.
func hasCodeSignature(f *macho.File) bool {
	const lcCodeSignature = 0x1d
	for _, l := range f.Loads {
		raw := l.Raw()
		if len(raw) >= 4 && f.ByteOrder.Uint32(raw) == lcCodeSignature {
			return true
		}
	}
	return false
}

// plistDict reads the top dict of an XML property list, each value as
// text: strings as they are, booleans as true or false, arrays joined
// with spaces.
func plistDict(t *testing.T, b []byte) map[string]string {
	t.Helper()
	var doc struct {
		Dict struct {
			Items []struct {
				XMLName xml.Name
				Text    string   `xml:",chardata"`
				Strings []string `xml:"string"`
			} `xml:",any"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("the plist is not XML: %v", err)
	}
	out := map[string]string{}
	items := doc.Dict.Items
	for i := 0; i+1 < len(items); i += 2 {
		if items[i].XMLName.Local != "key" {
			t.Fatalf("plist item %d is a %s, want a key", i, items[i].XMLName.Local)
		}
		v := items[i+1]
		switch v.XMLName.Local {
		case "true", "false":
			out[items[i].Text] = v.XMLName.Local
		case "array":
			out[items[i].Text] = strings.Join(v.Strings, " ")
		default:
			out[items[i].Text] = v.Text
		}
	}
	return out
}
