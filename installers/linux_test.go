package installers_test

// The checks of the Linux packages that linux/build.sh makes: their
// contents, metadata and maintainer scripts as dpkg-deb and rpm read
// them, their systemd units as systemd-analyze reads them, and the
// binaries inside. Nothing here installs a package: dpkg-deb -x only
// unpacks the files into a temporary folder. The maintainer scripts run
// (see TestDeb_ScriptsRun), but on a stand-in system: a temporary root
// that ROLLCALL_PKG_ROOT points them to, and a PATH of stubs that record
// what systemctl, useradd and the rest were asked, and change nothing
// outside that root.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// linuxPackage is what one of the Linux packages must hold.
type linuxPackage struct {
	name      string
	files     []linuxFile // everything it ships but the parent folders
	conffiles []string
	scripts   []linuxScript
}

// linuxFile is one file or folder in a package, as dpkg and rpm install it.
type linuxFile struct {
	path         string
	mode         fs.FileMode // permissions, with fs.ModeDir for a folder
	owner, group string
}

// linuxScript is one maintainer script: its deb name, the name rpm gives
// the same scriptlet, its source in linux/scripts/, and what it must say.
type linuxScript struct {
	deb, rpm, source string
	want             []string
}

var linuxPackages = []linuxPackage{
	{
		name: "rollcall-agent",
		files: []linuxFile{
			{"/usr/bin/rollcall-agent", 0o755, "root", "root"},
			{"/lib/systemd/system/rollcall-agent.service", 0o644, "root", "root"},
			{"/etc/rollcall-agent", fs.ModeDir | 0o700, "root", "root"},
		},
		scripts: []linuxScript{
			{"postinst", "postinstall", "rollcall-agent/postinstall.sh", []string{
				`[ -d "$sysroot/run/systemd/system" ]`, "systemctl daemon-reload", `systemctl enable --now "$unit"`,
				`systemctl try-restart "$unit"`, "unit=rollcall-agent.service", "/etc/rollcall-agent/enroll-token",
				`chmod 0700 "$sysroot/etc/rollcall-agent"`, "marker=$sysroot/var/lib/rollcall-agent/.removed-by-package",
				"sysroot=${ROLLCALL_PKG_ROOT:-}"}},
			{"prerm", "preuninstall", "rollcall-agent/preremove.sh", []string{
				"remove | 0)", `systemctl stop "$unit"`, `systemctl disable "$unit"`, "unit=rollcall-agent.service",
				`"$state/.removed-by-package"`}},
			{"postrm", "postuninstall", "rollcall-agent/postremove.sh", []string{
				"purge)", `rm -rf "$sysroot/var/lib/rollcall-agent" "$sysroot/etc/rollcall-agent"`, "systemctl daemon-reload"}},
		},
	},
	{
		name: "rollcall",
		files: []linuxFile{
			{"/usr/bin/rollcall", 0o755, "root", "root"},
			{"/lib/systemd/system/rollcall.service", 0o644, "root", "root"},
			{"/etc/rollcall", fs.ModeDir | 0o755, "root", "root"},
			{"/etc/rollcall/rollcall.env", 0o640, "root", "rollcall"},
		},
		conffiles: []string{"/etc/rollcall/rollcall.env"},
		scripts: []linuxScript{
			{"preinst", "preinstall", "rollcall/preinstall.sh", []string{
				"getent group rollcall", "groupadd --system rollcall", "getent passwd rollcall",
				"useradd --system --gid rollcall --home-dir /var/lib/rollcall", "--shell /usr/sbin/nologin"}},
			{"postinst", "postinstall", "rollcall/postinstall.sh", []string{
				`[ -d "$sysroot/run/systemd/system" ]`, "systemctl daemon-reload", `systemctl enable --now "$unit"`,
				`systemctl try-restart "$unit"`, "unit=rollcall.service", "sudo -u rollcall rollcall user add --data-dir /var/lib/rollcall",
				"marker=$sysroot/var/lib/rollcall/.removed-by-package", "sysroot=${ROLLCALL_PKG_ROOT:-}"}},
			{"prerm", "preuninstall", "rollcall/preremove.sh", []string{
				"remove | 0)", `systemctl stop "$unit"`, `systemctl disable "$unit"`, "unit=rollcall.service",
				`"$state/.removed-by-package"`}},
			{"postrm", "postuninstall", "rollcall/postremove.sh", []string{"purge)", "systemctl daemon-reload",
				`rm -f "$sysroot/var/lib/rollcall/.removed-by-package"`}},
		},
	},
}

// linuxArches maps each Go architecture the packages are built for to
// rpm's name for it and the ELF machine of its binaries.
var linuxArches = []struct {
	goarch, rpm string
	machine     elf.Machine
}{
	{"amd64", "x86_64", elf.EM_X86_64},
	{"arm64", "aarch64", elf.EM_AARCH64},
}

// rpmRelease is the release nfpm gives an rpm when none is set.
const rpmRelease = "1"

// debFile and rpmFile name a package in dir as nfpm does by default.
func debFile(dir, name, goarch string) string {
	return filepath.Join(dir, fmt.Sprintf("%s_%s_%s.deb", name, testVersion, goarch))
}

func rpmFile(dir, name, rpmArch string) string {
	return filepath.Join(dir, fmt.Sprintf("%s-%s-%s.%s.rpm", name, testVersion, rpmRelease, rpmArch))
}

// extractDeb unpacks the files of a deb (not its scripts) into a new
// temporary folder and returns it.
func extractDeb(t *testing.T, deb string) string {
	t.Helper()
	root := t.TempDir()
	run(t, "dpkg-deb", "-x", deb, root)
	return root
}

// TestLinux_PackageFiles checks that the build wrote the eight Linux
// packages, under the names nfpm gives them.
func TestLinux_PackageFiles(t *testing.T) {
	dir := built(t)
	for _, p := range linuxPackages {
		for _, a := range linuxArches {
			for _, f := range []string{debFile(dir, p.name, a.goarch), rpmFile(dir, p.name, a.rpm)} {
				if fi, err := os.Stat(f); err != nil {
					t.Errorf("missing %s: %v", filepath.Base(f), err)
				} else if fi.Size() == 0 {
					t.Errorf("%s is empty", filepath.Base(f))
				}
			}
		}
	}
}

// TestDeb_Contents checks each deb's listing: every file and folder with
// its mode, owner and group, and nothing else but parent folders, which
// must be the usual 0755 root ones, or installing would change them.
func TestDeb_Contents(t *testing.T) {
	dir := built(t)
	for _, p := range linuxPackages {
		for _, a := range linuxArches {
			t.Run(p.name+"-"+a.goarch, func(t *testing.T) {
				listed := map[string][2]string{} // path → mode, owner/group
				for _, line := range strings.Split(strings.TrimSpace(run(t, "dpkg-deb", "-c", debFile(dir, p.name, a.goarch))), "\n") {
					f := strings.Fields(line)
					if len(f) < 6 {
						t.Fatalf("dpkg-deb -c line %q", line)
					}
					name := strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")
					listed[name] = [2]string{f[0], f[1]}
				}
				parents := map[string]bool{}
				for _, want := range p.files {
					for d := path.Dir(want.path); d != "/"; d = path.Dir(d) {
						parents[d] = true
					}
				}
				for _, want := range p.files {
					got, ok := listed[want.path]
					if !ok {
						t.Errorf("%s is missing", want.path)
						continue
					}
					if got[0] != want.mode.String() || got[1] != want.owner+"/"+want.group {
						t.Errorf("%s: %s %s, want %s %s/%s", want.path, got[0], got[1], want.mode, want.owner, want.group)
					}
					delete(listed, want.path)
				}
				for name, got := range listed {
					switch {
					case name == "": // the archive's root, "./"
					case !parents[name]:
						t.Errorf("unexpected %s %s %s", name, got[0], got[1])
					case got[0] != "drwxr-xr-x" || got[1] != "root/root":
						t.Errorf("parent folder %s: %s %s, want drwxr-xr-x root/root", name, got[0], got[1])
					}
				}
			})
		}
	}
}

// TestDeb_Control checks each deb's control fields and configuration
// files.
func TestDeb_Control(t *testing.T) {
	dir := built(t)
	for _, p := range linuxPackages {
		for _, a := range linuxArches {
			t.Run(p.name+"-"+a.goarch, func(t *testing.T) {
				deb := debFile(dir, p.name, a.goarch)
				for _, c := range []struct{ field, want string }{
					{"Package", p.name},
					{"Version", testVersion}, // deb keeps "+3.gtest123" as it is
					{"Architecture", a.goarch},
					{"Depends", ""}, // static binaries
					{"Homepage", ""},
				} {
					if got := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, c.field)); got != c.want {
						t.Errorf("%s: %q, want %q", c.field, got, c.want)
					}
				}
				if m := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, "Maintainer")); !regexp.MustCompile(`^[^<>]+ <[^<>@ ]+@[^<>@ ]+>$`).MatchString(m) {
					t.Errorf("Maintainer %q is not Name <email>", m)
				}
				ctrl := t.TempDir()
				run(t, "dpkg-deb", "-e", deb, ctrl)
				var got []string
				if b, err := os.ReadFile(filepath.Join(ctrl, "conffiles")); err == nil {
					got = strings.Fields(string(b))
				} else if !os.IsNotExist(err) {
					t.Fatal(err)
				}
				if !slices.Equal(got, p.conffiles) {
					t.Errorf("conffiles %q, want %q", got, p.conffiles)
				}
			})
		}
	}
}

// TestDeb_Scripts checks each deb's maintainer scripts: present, and no
// others, executable, the same as their sources, accepted by sh -n, and
// saying what they must.
func TestDeb_Scripts(t *testing.T) {
	dir := built(t)
	for _, p := range linuxPackages {
		t.Run(p.name, func(t *testing.T) {
			ctrl := t.TempDir()
			run(t, "dpkg-deb", "-e", debFile(dir, p.name, "amd64"), ctrl)
			want := map[string]bool{"control": true, "md5sums": true, "conffiles": len(p.conffiles) > 0}
			for _, s := range p.scripts {
				want[s.deb] = true
				file := filepath.Join(ctrl, s.deb)
				fi, err := os.Stat(file)
				if err != nil {
					t.Errorf("%s: %v", s.deb, err)
					continue
				}
				if fi.Mode().Perm() != 0o755 {
					t.Errorf("%s: mode %v, want 0755", s.deb, fi.Mode().Perm())
				}
				got, _ := os.ReadFile(file)
				src, err := os.ReadFile(filepath.Join("linux", "scripts", s.source))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(src) {
					t.Errorf("%s differs from linux/scripts/%s", s.deb, s.source)
				}
				if !strings.HasPrefix(string(got), "#!/bin/sh\n") {
					t.Errorf("%s does not start with #!/bin/sh", s.deb)
				}
				if err := shellSyntax(t, file); err != nil {
					t.Errorf("%s: %v", s.deb, err)
				}
				for _, w := range s.want {
					if !strings.Contains(string(got), w) {
						t.Errorf("%s does not say %q", s.deb, w)
					}
				}
			}
			entries, err := os.ReadDir(ctrl)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if !want[e.Name()] {
					t.Errorf("unexpected control file %s", e.Name())
				}
			}
		})
	}
}

// shellSyntax runs sh -n on file.
func shellSyntax(t *testing.T, file string) error {
	t.Helper()
	if out, err := exec.Command(tool(t, "sh"), "-n", file).CombinedOutput(); err != nil {
		return fmt.Errorf("sh -n: %v\n%s", err, out)
	}
	return nil
}

// TestDeb_ShellSyntaxRefusesBroken checks that the sh -n check above
// can fail.
func TestDeb_ShellSyntaxRefusesBroken(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "postinst")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\ncase \"$1\" in\nconfigure) echo x\nesac fi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := shellSyntax(t, bad); err == nil {
		t.Error("sh -n accepted a script with a syntax error")
	}
}

// TestDeb_Extracted unpacks each deb into a temporary root and checks the
// modes of what it holds there.
func TestDeb_Extracted(t *testing.T) {
	dir := built(t)
	for _, p := range linuxPackages {
		for _, a := range linuxArches {
			t.Run(p.name+"-"+a.goarch, func(t *testing.T) {
				root := extractDeb(t, debFile(dir, p.name, a.goarch))
				for _, want := range p.files {
					fi, err := os.Lstat(filepath.Join(root, want.path))
					if err != nil {
						t.Errorf("%s: %v", want.path, err)
						continue
					}
					if got := fi.Mode() & (fs.ModeType | fs.ModePerm); got != want.mode {
						t.Errorf("%s: mode %v, want %v", want.path, got, want.mode)
					}
				}
			})
		}
	}
}

// TestDeb_Binaries checks the binaries in the debs: built for the
// package's architecture, static (no dynamic loader, so the packages
// need no library), and, for this machine's architecture, printing the
// version the build stamped.
func TestDeb_Binaries(t *testing.T) {
	dir := built(t)
	for _, p := range linuxPackages {
		for _, a := range linuxArches {
			t.Run(p.name+"-"+a.goarch, func(t *testing.T) {
				bin := filepath.Join(extractDeb(t, debFile(dir, p.name, a.goarch)), "usr", "bin", p.name)
				f, err := elf.Open(bin)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if f.Machine != a.machine {
					t.Errorf("machine %v, want %v", f.Machine, a.machine)
				}
				for _, prog := range f.Progs {
					if prog.Type == elf.PT_INTERP {
						t.Error("dynamically linked (has an interpreter), want static")
					}
				}
				if a.goarch != runtime.GOARCH {
					return
				}
				out, err := exec.Command(bin, "version").CombinedOutput()
				if err != nil {
					t.Fatalf("%s version: %v\n%s", p.name, err, out)
				}
				if got, want := strings.TrimSpace(string(out)), p.name+" "+testVersion; got != want {
					t.Errorf("%s version printed %q, want %q", p.name, got, want)
				}
			})
		}
	}
}

// TestRPM_Header checks each rpm's name, version, release and
// architecture, and that it depends on nothing but what rpm itself adds.
func TestRPM_Header(t *testing.T) {
	dir := built(t)
	for _, p := range linuxPackages {
		for _, a := range linuxArches {
			t.Run(p.name+"-"+a.goarch, func(t *testing.T) {
				rpm := rpmFile(dir, p.name, a.rpm)
				got := run(t, "rpm", "-qp", "--queryformat", `%{NAME}|%{VERSION}|%{RELEASE}|%{ARCH}|%{OS}|%{URL}`, rpm)
				want := strings.Join([]string{p.name, testVersion, rpmRelease, a.rpm, "linux", "(none)"}, "|")
				if got != want {
					t.Errorf("header %q, want %q", got, want)
				}
				for _, req := range strings.Split(strings.TrimSpace(run(t, "rpm", "-qp", "--requires", rpm)), "\n") {
					if !strings.HasPrefix(req, "rpmlib(") && !strings.HasPrefix(req, "/bin/sh") {
						t.Errorf("requires %q, want nothing: the binaries are static", req)
					}
				}
			})
		}
	}
}

// TestRPM_Files checks each rpm's files with rpm --dump: every path with
// its mode, owner and group, nothing else (not even parent folders such
// as /lib, a symbolic link on RHEL that the filesystem package owns), the
// configuration file marked %config(noreplace), and each file the same
// as in the deb for that architecture.
func TestRPM_Files(t *testing.T) {
	dir := built(t)
	for _, p := range linuxPackages {
		for _, a := range linuxArches {
			t.Run(p.name+"-"+a.goarch, func(t *testing.T) {
				rpm := rpmFile(dir, p.name, a.rpm)
				debRoot := extractDeb(t, debFile(dir, p.name, a.goarch))
				type entry struct{ mode, owner, group, digest, config string }
				dumped := map[string]entry{}
				for _, line := range strings.Split(strings.TrimSpace(run(t, "rpm", "-qp", "--dump", rpm)), "\n") {
					// path size mtime digest mode owner group isconfig isdoc rdev symlink
					f := strings.Fields(line)
					if len(f) < 11 {
						t.Fatalf("rpm --dump line %q", line)
					}
					dumped[f[0]] = entry{mode: f[4], owner: f[5], group: f[6], digest: f[3], config: f[7]}
				}
				for _, want := range p.files {
					got, ok := dumped[want.path]
					if !ok {
						t.Errorf("%s is missing", want.path)
						continue
					}
					delete(dumped, want.path)
					if m := rpmMode(want.mode); got.mode != m || got.owner != want.owner || got.group != want.group {
						t.Errorf("%s: %s %s:%s, want %s %s:%s", want.path, got.mode, got.owner, got.group, m, want.owner, want.group)
					}
					if isConf := slices.Contains(p.conffiles, want.path); (got.config == "1") != isConf {
						t.Errorf("%s: config flag %s, want config %v", want.path, got.config, isConf)
					}
					if want.mode.IsDir() {
						continue
					}
					b, err := os.ReadFile(filepath.Join(debRoot, want.path))
					if err != nil {
						t.Fatal(err)
					}
					if sum := sha256.Sum256(b); got.digest != hex.EncodeToString(sum[:]) {
						t.Errorf("%s differs between the rpm and the deb", want.path)
					}
				}
				for name := range dumped {
					t.Errorf("unexpected %s", name)
				}
				flags := run(t, "rpm", "-qp", "--queryformat", `[%{FILENAMES} %{FILEFLAGS:fflags}\n]`, rpm)
				for _, c := range p.conffiles {
					if !strings.Contains(flags, c+" cn\n") {
						t.Errorf("%s is not %%config(noreplace):\n%s", c, flags)
					}
				}
			})
		}
	}
}

// rpmMode is mode as rpm --dump prints it: octal, with the file type.
func rpmMode(mode fs.FileMode) string {
	kind := 0o100000
	if mode.IsDir() {
		kind = 0o040000
	}
	return fmt.Sprintf("0%o", kind|int(mode.Perm()))
}

// TestRPM_Scripts checks each rpm's scriptlets: the same scripts as the
// deb's, run by /bin/sh, and no others.
func TestRPM_Scripts(t *testing.T) {
	dir := built(t)
	for _, p := range linuxPackages {
		for _, a := range linuxArches {
			t.Run(p.name+"-"+a.goarch, func(t *testing.T) {
				got := map[string]string{}
				for name, s := range rpmScriptlets(t, rpmFile(dir, p.name, a.rpm)) {
					if s.shell != "/bin/sh" {
						t.Errorf("%s scriptlet runs with %s, want /bin/sh", name, s.shell)
					}
					got[name] = s.body
				}
				for _, s := range p.scripts {
					body, ok := got[s.rpm]
					if !ok {
						t.Errorf("no %s scriptlet", s.rpm)
						continue
					}
					delete(got, s.rpm)
					src, err := os.ReadFile(filepath.Join("linux", "scripts", s.source))
					if err != nil {
						t.Fatal(err)
					}
					if body != strings.TrimSpace(string(src)) {
						t.Errorf("%s scriptlet differs from linux/scripts/%s", s.rpm, s.source)
					}
					for _, w := range s.want {
						if !strings.Contains(body, w) {
							t.Errorf("%s scriptlet does not say %q", s.rpm, w)
						}
					}
				}
				for name := range got {
					t.Errorf("unexpected %s scriptlet", name)
				}
			})
		}
	}
}

// rpmScriptlet is one scriptlet of an rpm as rpm -qp --scripts prints
// it: what runs it, and its text, without the blank lines around it.
type rpmScriptlet struct{ shell, body string }

// rpmScriptlets returns the scriptlets of an rpm by rpm's names for
// them (preinstall, postinstall, preuninstall, postuninstall).
func rpmScriptlets(t *testing.T, rpm string) map[string]rpmScriptlet {
	t.Helper()
	header := regexp.MustCompile(`(?m)^(\w+) scriptlet \(using ([^)]+)\):\n`)
	out := run(t, "rpm", "-qp", "--scripts", rpm)
	got := map[string]rpmScriptlet{}
	heads := header.FindAllStringSubmatchIndex(out, -1)
	for i, h := range heads {
		end := len(out)
		if i+1 < len(heads) {
			end = heads[i+1][0]
		}
		got[out[h[2]:h[3]]] = rpmScriptlet{shell: out[h[4]:h[5]], body: strings.TrimSpace(out[h[1]:end])}
	}
	return got
}

// unitUnderTest copies the unit a package ships, from its deb unpacked
// into root, into a new folder under its own name, changed by edit, with
// ExecStart pointing into root, where the binary is. systemd-analyze
// verify checks that ExecStart's binary exists; its --root option would
// look for the binary in root but also for sysinit.target and the other
// units every service depends on, which root lacks.
func unitUnderTest(t *testing.T, root, unit string, edit func(string) string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "lib", "systemd", "system", unit))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\nExecStart=/usr/bin/", "\nExecStart="+root+"/usr/bin/")
	if edit != nil {
		text = edit(text)
	}
	file := filepath.Join(t.TempDir(), unit)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// verifyUnit runs systemd-analyze verify on the unit file and returns
// what it said about that unit (it may warn about the host's own units
// too), and whether it accepted it: exit status 0 and nothing said.
// Unknown or malformed directives are only warnings, with status 0.
func verifyUnit(t *testing.T, file string) (said string, ok bool) {
	t.Helper()
	out, err := exec.Command(tool(t, "systemd-analyze"), "verify", "--man=no", file).CombinedOutput()
	var mine []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, filepath.Base(file)) {
			mine = append(mine, line)
		}
	}
	return strings.Join(mine, "\n"), err == nil && len(mine) == 0
}

// TestSystemd_Verify checks that systemd-analyze verify accepts both
// units as packaged, and refuses broken copies of them, so that it can
// fail.
func TestSystemd_Verify(t *testing.T) {
	dir := built(t)
	root := t.TempDir()
	for _, p := range linuxPackages {
		run(t, "dpkg-deb", "-x", debFile(dir, p.name, "amd64"), root)
	}
	cases := []struct {
		name, unit string
		edit       func(string) string
		refusal    string // "" for a unit it must accept, else part of what it says
	}{
		{"rollcall-agent", "rollcall-agent.service", nil, ""},
		{"rollcall", "rollcall.service", nil, ""},
		{"UnknownDirective", "rollcall-agent.service", func(s string) string {
			return strings.Replace(s, "\n[Service]\n", "\n[Service]\nProtectEverything=yes\n", 1)
		}, "Unknown key"},
		{"BadValue", "rollcall.service", func(s string) string {
			return strings.Replace(s, "\nRestart=on-failure\n", "\nRestart=sometimes\n", 1)
		}, "Failed to parse"},
		{"MissingBinary", "rollcall-agent.service", func(s string) string {
			return strings.Replace(s, "/usr/bin/rollcall-agent run", "/usr/bin/rollcall-agent-missing run", 1)
		}, "is not executable"},
		{"NoExecStart", "rollcall.service", func(s string) string {
			return regexp.MustCompile(`(?m)^ExecStart=.*\n`).ReplaceAllString(s, "")
		}, "ExecStart"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := unitUnderTest(t, root, c.unit, c.edit)
			said, ok := verifyUnit(t, file)
			switch {
			case c.refusal == "" && !ok:
				t.Errorf("systemd-analyze verify refused %s:\n%s", c.unit, said)
			case c.refusal != "" && ok:
				t.Errorf("systemd-analyze verify accepted the broken %s", c.unit)
			case c.refusal != "" && !strings.Contains(said, c.refusal):
				t.Errorf("systemd-analyze verify refused the broken %s, but not for %q:\n%s", c.unit, c.refusal, said)
			}
		})
	}
}

// TestSystemd_Security checks the exposure systemd-analyze security
// gives each unit as packaged (0 to 10, lower is safer): 4.7 for the
// agent, which needs root, a few capabilities and the devices, and 1.4
// for the server with systemd 252. A unit that loses its hardening goes
// over the limit.
func TestSystemd_Security(t *testing.T) {
	dir := built(t)
	for _, c := range []struct {
		pkg, unit string
		limit     int // tenths, as --threshold takes it
	}{
		{"rollcall-agent", "rollcall-agent.service", 50},
		{"rollcall", "rollcall.service", 20},
	} {
		t.Run(c.pkg, func(t *testing.T) {
			root := extractDeb(t, debFile(dir, c.pkg, "amd64"))
			file := filepath.Join(root, "lib", "systemd", "system", c.unit)
			out, err := exec.Command(tool(t, "systemd-analyze"), "security", "--offline=yes", fmt.Sprintf("--threshold=%d", c.limit), file).CombinedOutput()
			level := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
			if level == nil {
				t.Fatalf("systemd-analyze security printed no exposure level: %v\n%s", err, out)
			}
			if err != nil {
				t.Errorf("exposure %s, want at most %.1f", level[1], float64(c.limit)/10)
			}
		})
	}
}

// TestSystemd_Units checks the directives of both units as packaged:
// how each runs, and what it may do.
func TestSystemd_Units(t *testing.T) {
	dir := built(t)
	hardening := map[string]string{
		"Service.NoNewPrivileges":         "yes",
		"Service.PrivateTmp":              "yes",
		"Service.ProtectSystem":           "strict",
		"Service.ProtectKernelTunables":   "yes",
		"Service.ProtectKernelModules":    "yes",
		"Service.ProtectKernelLogs":       "yes",
		"Service.ProtectControlGroups":    "yes",
		"Service.RestrictSUIDSGID":        "yes",
		"Service.LockPersonality":         "yes",
		"Service.MemoryDenyWriteExecute":  "yes",
		"Service.RestrictRealtime":        "yes",
		"Service.SystemCallArchitectures": "native",
		"Install.WantedBy":                "multi-user.target",
	}
	cases := []struct {
		pkg, unit string
		want      map[string]string // "Section.Key" → the value; "" for set empty
		absent    []string
	}{
		{"rollcall-agent", "rollcall-agent.service", map[string]string{
			"Service.Type":                    "simple",
			"Service.ExecStart":               "/usr/bin/rollcall-agent run --data-dir /var/lib/rollcall-agent",
			"Service.Restart":                 "always",
			"Service.RestartSec":              "10",
			"Service.StateDirectory":          "rollcall-agent",
			"Service.StateDirectoryMode":      "0700",
			"Service.ProtectHome":             "read-only",
			"Service.ReadWritePaths":          "-/etc/rollcall-agent",
			"Service.CapabilityBoundingSet":   "CAP_DAC_READ_SEARCH CAP_SETUID CAP_SETGID CAP_AUDIT_WRITE",
			"Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
			"Install.Alias":                   "RollcallAgent.service",
		}, []string{"Service.User", "Service.DynamicUser", "Service.AmbientCapabilities", "Service.PrivateDevices", "Service.ProtectProc"}},
		{"rollcall", "rollcall.service", map[string]string{
			"Service.Type":                    "simple",
			"Service.User":                    "rollcall",
			"Service.Group":                   "rollcall",
			"Service.EnvironmentFile":         "-/etc/rollcall/rollcall.env",
			"Service.ExecStart":               "/usr/bin/rollcall serve --data-dir /var/lib/rollcall $ROLLCALL_SERVE_FLAGS",
			"Service.Restart":                 "on-failure",
			"Service.StateDirectory":          "rollcall",
			"Service.StateDirectoryMode":      "0750",
			"Service.ProtectHome":             "yes",
			"Service.ReadWritePaths":          "/var/lib/rollcall",
			"Service.CapabilityBoundingSet":   "",
			"Service.AmbientCapabilities":     "",
			"Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		}, []string{"Service.DynamicUser"}},
	}
	for _, c := range cases {
		t.Run(c.pkg, func(t *testing.T) {
			root := extractDeb(t, debFile(dir, c.pkg, "amd64"))
			got := parseUnit(t, filepath.Join(root, "lib", "systemd", "system", c.unit))
			want := map[string]string{}
			for k, v := range hardening {
				want[k] = v
			}
			for k, v := range c.want {
				want[k] = v
			}
			for k, v := range want {
				vals, ok := got[k]
				if !ok {
					t.Errorf("%s is not set, want %q", k, v)
				} else if !slices.Equal(vals, []string{v}) {
					t.Errorf("%s = %q, want just %q", k, vals, v)
				}
			}
			for _, k := range c.absent {
				if vals, ok := got[k]; ok {
					t.Errorf("%s = %q, want it unset", k, vals)
				}
			}
		})
	}
}

// parseUnit reads a systemd unit file into "Section.Key" → its values,
// in order.
func parseUnit(t *testing.T, file string) map[string][]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: line %q", file, line)
			}
			key := section + "." + strings.TrimSpace(k)
			got[key] = append(got[key], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestLinux_VersionOrder packages the agent, with a stand-in binary, at
// the versions installers/version.sh gives a run of builds, and checks
// that deb and rpm keep each version as it is and sort each build after
// the one before: dpkg and rpm upgrade only to a version they sort later.
func TestLinux_VersionOrder(t *testing.T) {
	versions := []string{
		"0.0.109+gabc1234",        // before any tag: 0.0.N+gHASH
		"0.0.110+g0123def",        // the next commit, whatever its hash
		"1.4.0",                   // tagged v1.4.0
		"1.4.0+1.gabc1234",        // one commit after the tag
		"1.4.0+2.g0000000",        // two
		"1.4.0+10.g1111111",       // ten: 10 sorts after 2
		"1.4.0+10.g1111111.dirty", // the same, with changes not committed
		"1.4.1",
	}
	nfpm := tool(t, "nfpm")
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "rollcall-agent"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var debs, rpms []string
	for _, v := range versions {
		for _, packager := range []string{"deb", "rpm"} {
			cmd := exec.Command(nfpm, "package", "--config", "rollcall-agent.yaml", "--packager", packager, "--target", out+"/")
			cmd.Dir = "linux"
			cmd.Env = append(os.Environ(), "VERSION="+v, "ARCH=amd64", "BIN="+bin, "MAINTAINER=Tests <tests@example.com>")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("nfpm %s at %s: %v\n%s", packager, v, err, b)
			}
		}
		deb := strings.TrimSpace(run(t, "dpkg-deb", "-f", filepath.Join(out, "rollcall-agent_"+v+"_amd64.deb"), "Version"))
		rpm := run(t, "rpm", "-qp", "--queryformat", "%{VERSION} %{RELEASE}", filepath.Join(out, "rollcall-agent-"+v+"-1.x86_64.rpm"))
		if deb != v {
			t.Errorf("deb version %q, want %q", deb, v)
		}
		if rpm != v+" "+rpmRelease {
			t.Errorf("rpm version and release %q, want %q", rpm, v+" "+rpmRelease)
		}
		debs, rpms = append(debs, deb), append(rpms, strings.Fields(rpm)[0])
	}
	for i := 1; i < len(versions); i++ {
		if err := exec.Command(tool(t, "dpkg"), "--compare-versions", debs[i-1], "lt", debs[i]).Run(); err != nil {
			t.Errorf("dpkg does not sort %s before %s", debs[i-1], debs[i])
		}
		lua := fmt.Sprintf(`%%{lua: print(rpm.vercmp(%q, %q))}`, rpms[i-1], rpms[i])
		if got := strings.TrimSpace(run(t, "rpm", "--eval", lua)); got != "-1" {
			t.Errorf("rpm does not sort %s before %s: vercmp %s", rpms[i-1], rpms[i], got)
		}
	}
}

// The maintainer scripts, run. Each script as the packages ship it (from
// the amd64 deb with dpkg-deb -e, and from the amd64 rpm with rpm -qp
// --scripts: nfpm copies the sources into both as they are) runs with sh
// on a scriptSystem, once with dash (Debian's and Ubuntu's /bin/sh) and
// once with bash run as sh (RHEL's), and with the arguments each
// packager passes:
//
//	dpkg: preinst install, install OLD (back from config-files) or
//	      upgrade OLD; postinst configure "" (first install) or
//	      configure OLD (an upgrade, and a reinstall after a removal,
//	      which dpkg cannot tell apart); prerm remove or upgrade NEW;
//	      postrm remove, purge or upgrade NEW.
//	rpm:  %pre and %post get the number of versions installed after the
//	      step, 1 on an install, 2 on an upgrade; %preun and %postun the
//	      number left, 0 on an erase, 1 on an upgrade. An upgrade runs the
//	      new %pre and %post, then the old %preun and %postun.

// scriptSystem is a stand-in for the system a maintainer script runs on:
// a temporary root, which the scripts put before every path they check or
// change when ROLLCALL_PKG_ROOT names it, and a PATH holding only stubs
// and a few harmless tools. The stubs (systemctl, getent, groupadd,
// useradd, install, chown, chmod, mkdir, rm) append each call to a log;
// systemctl, getent, groupadd and useradd keep their state (units enabled
// and active, groups and users) in files outside the root; the file
// tools refuse any path outside the root. A command that is neither
// stubbed nor allowed is not found, which the script's stderr shows.
type scriptSystem struct {
	root     string // ROLLCALL_PKG_ROOT
	stubs    string // the stubs, first on PATH
	tools    string // the allowed tools, and sh: the shell under test
	refusers string // last on PATH: scriptRefusers
	state    string // the stubs' state
	log      string // the stubs' calls
}

// scriptGiven is the state of a stand-in system before a script runs.
// By default systemd is running, systemctl is there, the unit is
// disabled and stopped, and there is no rollcall user.
type scriptGiven struct {
	offline         bool     // no /run/systemd/system: a chroot or a container
	noSystemctl     bool     // no systemctl at all: a system without systemd
	enabled, active bool     // the package's unit
	users           bool     // the rollcall group and user exist
	group           bool     // only the rollcall group exists
	files           []string // made under the root first: a path ending in / is a folder
}

// scriptState is what must hold after a script ran.
type scriptState struct {
	enabled, active bool
	exist, absent   []string               // under the root
	modes           map[string]fs.FileMode // permissions of files under the root
}

// scriptShell is a shell the scripts run with, as sh.
type scriptShell struct{ name, path string }

// scriptShells returns dash and bash, those of them this machine has.
func scriptShells(t *testing.T) []scriptShell {
	t.Helper()
	var shells []scriptShell
	for _, name := range []string{"dash", "bash"} {
		if p, err := exec.LookPath(name); err == nil {
			shells = append(shells, scriptShell{name, p})
		}
	}
	if len(shells) == 0 {
		shells = append(shells, scriptShell{"sh", tool(t, "sh")})
	}
	return shells
}

// scriptRefuser stands, last on the scripts' PATH, for every other
// command this machine has: it logs a refusal, which fails the test even
// when the script hides the command's stderr or ignores its status. The
// log is beside the root (scriptSystem's layout).
const scriptRefuser = `#!/bin/sh
# A command that the maintainer scripts may not run (linux_test.go).
case ${ROLLCALL_PKG_ROOT:-} in
?*/root) printf 'REFUSED %s: neither stubbed nor allowed\n' "${0##*/}" >>"${ROLLCALL_PKG_ROOT%/root}/calls.log" ;;
esac
echo "${0##*/}: not found: neither stubbed nor allowed (linux_test.go)" >&2
exit 127
`

// scriptRefusers makes a folder with a link to scriptRefuser under the
// name of each command in this machine's usual folders but the stubs, for
// the end of the scripts' PATH.
func scriptRefusers(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	refuser := filepath.Join(t.TempDir(), "refuse")
	if err := os.WriteFile(refuser, []byte(scriptRefuser), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			// Not the stubs: without the systemctl stub, a system without
			// systemd must have none at all.
			link := filepath.Join(dir, e.Name())
			if _, stubbed := scriptStubs[e.Name()]; stubbed || e.IsDir() {
				continue
			}
			if _, err := os.Lstat(link); err == nil {
				continue
			}
			if err := os.Symlink(refuser, link); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// scriptAllowed are the tools the scripts may run besides the stubs:
// they change nothing. (echo, printf, test and [ are built into dash and
// bash; the links are there for a shell that lacks one.)
var scriptAllowed = []string{"cat", "echo", "printf", "test", "[", "true", "false"}

// scriptStubHeader starts every stub: @ROOT@, @STATE@ and @LOG@ are replaced
// with the stand-in system's folders, so that nothing a script sets can
// point a stub elsewhere.
const scriptStubHeader = `#!/bin/sh
# A stub of linux_test.go: it records its call and changes nothing
# outside the test's own folders.
PATH=/usr/bin:/bin
root='@ROOT@' state='@STATE@'
me=${0##*/}
log() {
	line=$me
	for a; do
		case $a in
		'' | *[!A-Za-z0-9_./:=@+-]*) line="$line '$a'" ;;
		*) line="$line $a" ;;
		esac
	done
	printf '%s\n' "$line" >>'@LOG@'
}
refuse() {
	printf 'REFUSED %s: %s\n' "$me" "$*" >>'@LOG@'
	echo "$me (test stub): refused: $*" >&2
	exit 97
}
inroot() {
	[ $# -gt 0 ] || refuse "no path"
	for a; do
		case $a in
		*/../* | */..) refuse "$a has a .. in it" ;;
		"$root"/?*) ;;
		*) refuse "$a is not inside the test root" ;;
		esac
	done
}
isuser() { [ "$1" = root ] || [ -e "$state/passwd.$1" ]; }
isgroup() { [ "$1" = root ] || [ -e "$state/group.$1" ]; }
log "$@"
`

// stubs are the stubs' bodies, after scriptStubHeader.
var scriptStubs = map[string]string{
	// Units are enabled and active by files in the state folder. Like the
	// real one, it starts, stops and reloads nothing when systemd is not
	// running, but enables and disables.
	"systemctl": `running() {
	[ -d "$root/run/systemd/system" ] && return
	echo "System has not been booted with systemd as init system (PID 1). Can't operate." >&2
	exit 1
}
verb=$1
[ $# -gt 0 ] && shift
now=no quiet=no
while [ $# -gt 1 ]; do
	case $1 in
	--now) now=yes ;;
	--quiet) quiet=yes ;;
	*) refuse "systemctl $verb $1: not stubbed" ;;
	esac
	shift
done
unit=$1
if [ "$verb" = daemon-reload ]; then
	[ -z "$unit" ] || refuse "daemon-reload $unit"
	running
	exit 0
fi
case $unit in
?*.service) ;;
*) refuse "systemctl $verb of \"$unit\": want one unit.service" ;;
esac
case $verb in
enable)
	: >"$state/enabled.$unit"
	if [ $now = yes ]; then
		running
		: >"$state/active.$unit"
	fi
	;;
disable)
	rm -f "$state/enabled.$unit"
	if [ $now = yes ]; then
		running
		rm -f "$state/active.$unit"
	fi
	;;
start) running && : >"$state/active.$unit" ;;
stop) running && rm -f "$state/active.$unit" ;;
try-restart) running ;;
is-enabled)
	if [ -e "$state/enabled.$unit" ]; then s=enabled; else s=disabled; fi
	[ $quiet = yes ] || echo $s
	[ $s = enabled ]
	;;
*) refuse "systemctl $verb: not stubbed" ;;
esac
`,
	"getent": `[ $# -eq 2 ] || refuse "want a database and a key"
case $1 in
group | passwd) ;;
*) refuse "database $1: not stubbed" ;;
esac
[ -e "$state/$1.$2" ] || exit 2
echo "$2:x:999:"
`,
	"groupadd": `[ $# -eq 2 ] && [ "$1" = --system ] || refuse "want groupadd --system NAME"
if isgroup "$2"; then
	echo "groupadd: group '$2' already exists" >&2
	exit 9
fi
: >"$state/group.$2"
`,
	"useradd": `gid= name=
while [ $# -gt 0 ]; do
	case $1 in
	--system | --no-create-home) ;;
	--gid | --home-dir | --shell | --comment)
		[ $# -gt 1 ] || refuse "$1 without a value"
		[ "$1" != --gid ] || gid=$2
		shift
		;;
	-*) refuse "option $1: not stubbed" ;;
	*)
		[ -z "$name" ] || refuse "two names"
		name=$1
		;;
	esac
	shift
done
[ -n "$name" ] || refuse "no name"
if [ -z "$gid" ] || ! isgroup "$gid"; then
	echo "useradd: group '$gid' does not exist" >&2
	exit 6
fi
if isuser "$name"; then
	echo "useradd: user '$name' already exists" >&2
	exit 9
fi
: >"$state/passwd.$name"
`,
	// install -d only: it makes the folder with its mode, and checks that
	// the owner and group exist (the test need not run as root to chown).
	"install": `[ "$1" = -d ] || refuse "only install -d is stubbed"
shift
owner=root group=root mode= dir=
while [ $# -gt 0 ]; do
	case $1 in
	-o | -g | -m)
		[ $# -gt 1 ] || refuse "$1 without a value"
		case $1 in -o) owner=$2 ;; -g) group=$2 ;; -m) mode=$2 ;; esac
		shift
		;;
	-*) refuse "option $1: not stubbed" ;;
	*)
		[ -z "$dir" ] || refuse "one folder only"
		dir=$1
		;;
	esac
	shift
done
inroot "$dir"
if ! isuser "$owner"; then
	echo "install: invalid user '$owner'" >&2
	exit 1
fi
if ! isgroup "$group"; then
	echo "install: invalid group '$group'" >&2
	exit 1
fi
mkdir -p "$dir" || exit 1
[ -z "$mode" ] || chmod "$mode" "$dir"
`,
	// It checks the owner and group exist, and changes nothing: the log
	// has the call.
	"chown": `[ $# -ge 2 ] || refuse "want chown OWNER PATH..."
who=$1
shift
case $who in
-*) refuse "option $who: not stubbed" ;;
*:*) u=${who%%:*} g=${who#*:} ;;
*) u=$who g=root ;;
esac
inroot "$@"
if ! isuser "$u" || ! isgroup "$g"; then
	echo "chown: invalid user: '$who'" >&2
	exit 1
fi
`,
	"chmod": `[ $# -ge 2 ] || refuse "want chmod MODE PATH..."
mode=$1
shift
case $mode in
[0-7][0-7][0-7] | [0-7][0-7][0-7][0-7]) ;;
*) refuse "mode $mode: want octal" ;;
esac
inroot "$@"
exec chmod "$mode" "$@"
`,
	"mkdir": `opts=
while [ $# -gt 0 ]; do
	case $1 in
	-p) opts="$opts -p" ;;
	-m)
		[ $# -gt 1 ] || refuse "-m without a mode"
		opts="$opts -m $2"
		shift
		;;
	-*) refuse "option $1: not stubbed" ;;
	*) break ;;
	esac
	shift
done
inroot "$@"
exec mkdir $opts "$@"
`,
	"rm": `opts=
while [ $# -gt 0 ]; do
	case $1 in
	-f | -r | -rf | -fr) opts="$opts $1" ;;
	-*) refuse "option $1: not stubbed" ;;
	*) break ;;
	esac
	shift
done
inroot "$@"
exec rm $opts "$@"
`,
}

// newScriptSystem makes a stand-in system as given, whose scripts run
// with shell, and with refusers (from scriptRefusers) last on PATH.
func newScriptSystem(t *testing.T, shell, refusers string, g scriptGiven) *scriptSystem {
	t.Helper()
	base := t.TempDir()
	s := &scriptSystem{
		refusers: refusers,
		root:     filepath.Join(base, "root"),
		stubs:    filepath.Join(base, "stubs"),
		tools:    filepath.Join(base, "tools"),
		state:    filepath.Join(base, "state"),
		log:      filepath.Join(base, "calls.log"),
	}
	for _, d := range []string{s.root, s.stubs, s.tools, s.state} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if strings.ContainsAny(base, `'\`) {
		t.Fatalf("temporary folder %q has a quote in it", base)
	}
	header := strings.NewReplacer("@ROOT@", s.root, "@STATE@", s.state, "@LOG@", s.log).Replace(scriptStubHeader)
	for name, body := range scriptStubs {
		if name == "systemctl" && g.noSystemctl {
			continue
		}
		if err := os.WriteFile(filepath.Join(s.stubs, name), []byte(header+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(shell, filepath.Join(s.tools, "sh")); err != nil {
		t.Fatal(err)
	}
	for _, name := range scriptAllowed {
		if p, err := exec.LookPath(name); err == nil {
			if err := os.Symlink(p, filepath.Join(s.tools, name)); err != nil {
				t.Fatal(err)
			}
		} else if name == "cat" {
			t.Fatal(err)
		}
	}
	if !g.offline {
		s.make(t, "/run/systemd/system/")
	}
	s.make(t, g.files...)
	if g.users || g.group {
		s.addUser(t, !g.users)
	}
	s.setUnit(t, "", g.enabled, g.active) // no unit named: all of them
	return s
}

// make makes files (empty) and folders (a path ending in /, 0755) under
// the root.
func (s *scriptSystem) make(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		full := filepath.Join(s.root, p)
		dir := full
		if !strings.HasSuffix(p, "/") {
			dir = filepath.Dir(full)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if dir != full {
			if err := os.WriteFile(full, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// addUser makes the rollcall group and, unless groupOnly, the user, as
// preinstall would.
func (s *scriptSystem) addUser(t *testing.T, groupOnly bool) {
	t.Helper()
	files := []string{"group.rollcall", "passwd.rollcall"}
	if groupOnly {
		files = files[:1]
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(s.state, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// setUnit enables or disables and starts or stops a unit, as a
// technician would; unit "" is both packages' units.
func (s *scriptSystem) setUnit(t *testing.T, unit string, enabled, active bool) {
	t.Helper()
	units := []string{unit}
	if unit == "" {
		units = nil
		for _, p := range linuxPackages {
			units = append(units, p.name+".service")
		}
	}
	for _, u := range units {
		for f, on := range map[string]bool{"enabled." + u: enabled, "active." + u: active} {
			f = filepath.Join(s.state, f)
			var err error
			if on {
				err = os.WriteFile(f, nil, 0o644)
			} else if err = os.Remove(f); os.IsNotExist(err) {
				err = nil
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// unit returns whether a unit is enabled and active.
func (s *scriptSystem) unit(unit string) (enabled, active bool) {
	_, err := os.Stat(filepath.Join(s.state, "enabled."+unit))
	enabled = err == nil
	_, err = os.Stat(filepath.Join(s.state, "active."+unit))
	return enabled, err == nil
}

// exists returns whether path is there under the root.
func (s *scriptSystem) exists(path string) bool {
	_, err := os.Lstat(filepath.Join(s.root, path))
	return err == nil
}

// scriptRun is what one run of a script did.
type scriptRun struct {
	stdout, stderr string
	err            error
	calls          []string // the stubs' log, with the root taken off paths
}

// problems lists what is wrong with a run whatever the script: it
// failed, it printed on stderr (where the shell says a command is not
// found), or a stub refused a call.
func (r scriptRun) problems() []string {
	var p []string
	if r.err != nil {
		p = append(p, fmt.Sprintf("exit: %v", r.err))
	}
	if r.stderr != "" {
		why := ""
		if strings.Contains(r.stderr, "not found") {
			why = " (it runs a command that is neither stubbed nor allowed)"
		}
		p = append(p, fmt.Sprintf("printed on stderr%s:\n%s", why, r.stderr))
	}
	for _, c := range r.calls {
		if strings.HasPrefix(c, "REFUSED ") {
			p = append(p, c)
		}
	}
	return p
}

// run runs a script with sh on the stand-in system, with nothing in its
// environment but PATH (the stubs, the allowed tools, the refusers),
// ROLLCALL_PKG_ROOT and the locale, and returns what it did.
func (s *scriptSystem) run(t *testing.T, script string, args ...string) scriptRun {
	t.Helper()
	if err := os.WriteFile(s.log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.tools, "sh"), append([]string{script}, args...)...)
	cmd.Dir = s.root
	cmd.Env = []string{"PATH=" + s.stubs + ":" + s.tools + ":" + s.refusers, "ROLLCALL_PKG_ROOT=" + s.root, "LC_ALL=C"}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r := scriptRun{err: cmd.Run()}
	r.stdout, r.stderr = stdout.String(), stderr.String()
	b, err := os.ReadFile(s.log)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line != "" {
			r.calls = append(r.calls, strings.ReplaceAll(line, s.root, ""))
		}
	}
	return r
}

// check reports where the system is not in the state want for pkg.
func (s *scriptSystem) check(t *testing.T, pkg string, want scriptState) {
	t.Helper()
	unit := pkg + ".service"
	if enabled, active := s.unit(unit); enabled != want.enabled || active != want.active {
		t.Errorf("%s: enabled %v, active %v; want enabled %v, active %v", unit, enabled, active, want.enabled, want.active)
	}
	for _, p := range want.exist {
		if !s.exists(p) {
			t.Errorf("%s is missing", p)
		}
	}
	for _, p := range want.absent {
		if s.exists(p) {
			t.Errorf("%s is there, want it gone", p)
		}
	}
	for p, mode := range want.modes {
		if fi, err := os.Stat(filepath.Join(s.root, p)); err != nil {
			t.Error(err)
		} else if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), mode)
		}
	}
}

// packagedScripts writes the maintainer scripts of pkg's amd64 packages
// into a new folder, deb/NAME as dpkg-deb -e gives them and rpm/NAME as
// rpm -qp --scripts does, and returns it.
func packagedScripts(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := t.TempDir()
	run(t, "dpkg-deb", "-e", debFile(dir, pkg, "amd64"), filepath.Join(out, "deb"))
	if err := os.Mkdir(filepath.Join(out, "rpm"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range rpmScriptlets(t, rpmFile(dir, pkg, "x86_64")) {
		if err := os.WriteFile(filepath.Join(out, "rpm", name), []byte(s.body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// scriptAbsoluteCommand finds commands named by an absolute path, such as
// /usr/bin/systemctl, which PATH does not reach and so no stub shadows.
// /usr/sbin/nologin, useradd's --shell, is only named.
var scriptAbsoluteCommand = regexp.MustCompile("(?:^|[\\s;&|()`])(/(?:usr/)?s?bin/[\\w.-]+)")

func scriptAbsoluteCommands(script string) []string {
	var found []string
	for _, m := range scriptAbsoluteCommand.FindAllStringSubmatch(script, -1) {
		if m[1] != "/usr/sbin/nologin" {
			found = append(found, m[1])
		}
	}
	return found
}

// shipped is what the package pkg unpacks, for scriptGiven.files.
func linuxShipped(pkg string) []string {
	var files []string
	for _, p := range linuxPackages {
		if p.name != pkg {
			continue
		}
		for _, f := range p.files {
			if f.mode.IsDir() {
				files = append(files, f.path+"/")
			} else {
				files = append(files, f.path)
			}
		}
	}
	return files
}

// with is files followed by more.
func plusFiles(files []string, more ...string) []string {
	return append(slices.Clone(files), more...)
}

// scriptCase is one run of a maintainer script.
type scriptCase struct {
	pkg, script string // deb's name of the script (postinst) or rpm's (postinstall)
	name        string
	args        []string
	given       scriptGiven
	calls       []string // the stubs' log: every call, in order, and no others
	after       scriptState
	says        []string // parts of what it must print
	saysNot     []string
}

const (
	agentMarker  = "/var/lib/rollcall-agent/.removed-by-package"
	serverMarker = "/var/lib/rollcall/.removed-by-package"
	agentData    = "/var/lib/rollcall-agent/identity.pem"
	serverData   = "/var/lib/rollcall/rollcall.db"
)

// Calls the scripts make, as the stubs log them.
const (
	callReload       = "systemctl daemon-reload"
	agentEnable      = "systemctl enable rollcall-agent.service"
	agentEnableN     = "systemctl enable --now rollcall-agent.service"
	agentRestart     = "systemctl try-restart rollcall-agent.service"
	agentIsOn        = "systemctl is-enabled --quiet rollcall-agent.service"
	agentStop        = "systemctl stop rollcall-agent.service"
	agentDisable     = "systemctl disable rollcall-agent.service"
	agentChown       = "chown root:root /etc/rollcall-agent"
	agentChmod       = "chmod 0700 /etc/rollcall-agent"
	agentMkState     = "mkdir -p -m 0700 /var/lib/rollcall-agent"
	agentUnmark      = "rm -f " + agentMarker
	agentPurge       = "rm -rf /var/lib/rollcall-agent /etc/rollcall-agent"
	serverEnable     = "systemctl enable rollcall.service"
	serverEnableN    = "systemctl enable --now rollcall.service"
	serverRestart    = "systemctl try-restart rollcall.service"
	serverIsOn       = "systemctl is-enabled --quiet rollcall.service"
	serverStop       = "systemctl stop rollcall.service"
	serverDisable    = "systemctl disable rollcall.service"
	serverMkData     = "install -d -o rollcall -g rollcall -m 0750 /var/lib/rollcall"
	serverUnmark     = "rm -f " + serverMarker
	callGetentGroup  = "getent group rollcall"
	callGetentPasswd = "getent passwd rollcall"
	callGroupadd     = "groupadd --system rollcall"
	callUseradd      = "useradd --system --gid rollcall --home-dir /var/lib/rollcall --no-create-home --shell /usr/sbin/nologin --comment 'Rollcall server' rollcall"
)

var (
	agentFiles       = linuxShipped("rollcall-agent")
	serverFiles      = linuxShipped("rollcall")
	agentInstallMsg  = "rollcall-agent is installed. To enrol"
	serverInstallMsg = "The Rollcall server is installed:"
)

// debScriptCases are the deb's scripts with every argument dpkg passes.
var debScriptCases = []scriptCase{
	// rollcall-agent postinst
	{pkg: "rollcall-agent", script: "postinst", name: "first-install", args: []string{"configure", ""},
		given: scriptGiven{files: agentFiles},
		calls: []string{agentChown, agentChmod, callReload, agentEnableN},
		after: scriptState{enabled: true, active: true, modes: map[string]fs.FileMode{"/etc/rollcall-agent": 0o700}},
		says:  []string{agentInstallMsg}},
	{pkg: "rollcall-agent", script: "postinst", name: "first-install-offline", args: []string{"configure", ""},
		given: scriptGiven{offline: true, files: agentFiles},
		calls: []string{agentChown, agentChmod, agentEnable},
		after: scriptState{enabled: true},
		says:  []string{"starts at the next", agentInstallMsg}},
	{pkg: "rollcall-agent", script: "postinst", name: "first-install-no-systemd", args: []string{"configure", ""},
		given: scriptGiven{offline: true, noSystemctl: true, files: agentFiles},
		calls: []string{agentChown, agentChmod},
		says:  []string{"systemd is missing", agentInstallMsg}},
	{pkg: "rollcall-agent", script: "postinst", name: "first-install-after-stale-marker", args: []string{"configure", ""},
		given: scriptGiven{files: plusFiles(agentFiles, agentMarker)},
		calls: []string{agentChown, agentChmod, callReload, agentEnableN, agentUnmark},
		after: scriptState{enabled: true, active: true, absent: []string{agentMarker}}},
	{pkg: "rollcall-agent", script: "postinst", name: "upgrade", args: []string{"configure", "1.0.0"},
		given:   scriptGiven{enabled: true, active: true, files: plusFiles(agentFiles, agentData)},
		calls:   []string{agentChown, agentChmod, callReload, agentRestart, agentIsOn},
		after:   scriptState{enabled: true, active: true, exist: []string{agentData}},
		saysNot: []string{"disabled", agentInstallMsg}},
	{pkg: "rollcall-agent", script: "postinst", name: "upgrade-disabled-on-purpose", args: []string{"configure", "1.0.0"},
		given: scriptGiven{files: agentFiles},
		calls: []string{agentChown, agentChmod, callReload, agentRestart, agentIsOn},
		says:  []string{"rollcall-agent.service is disabled; to run the agent: systemctl enable --now"}},
	{pkg: "rollcall-agent", script: "postinst", name: "upgrade-offline", args: []string{"configure", "1.0.0"},
		given: scriptGiven{offline: true, enabled: true, files: agentFiles},
		calls: []string{agentChown, agentChmod, agentIsOn},
		after: scriptState{enabled: true}},
	{pkg: "rollcall-agent", script: "postinst", name: "reinstall-after-remove", args: []string{"configure", "1.0.0"},
		given: scriptGiven{files: plusFiles(agentFiles, agentMarker, agentData)},
		calls: []string{agentChown, agentChmod, callReload, agentEnableN, agentUnmark},
		after: scriptState{enabled: true, active: true, absent: []string{agentMarker}, exist: []string{agentData}},
		says:  []string{"installed again"}, saysNot: []string{agentInstallMsg}},
	{pkg: "rollcall-agent", script: "postinst", name: "reinstall-after-remove-offline", args: []string{"configure", "1.0.0"},
		given: scriptGiven{offline: true, files: plusFiles(agentFiles, agentMarker)},
		calls: []string{agentChown, agentChmod, agentEnable, agentUnmark},
		after: scriptState{enabled: true, absent: []string{agentMarker}}},
	{pkg: "rollcall-agent", script: "postinst", name: "abort-remove", args: []string{"abort-remove"},
		given: scriptGiven{files: plusFiles(agentFiles, agentMarker)},
		calls: []string{agentChown, agentChmod, callReload, agentEnableN, agentUnmark},
		after: scriptState{enabled: true, active: true, absent: []string{agentMarker}}},
	{pkg: "rollcall-agent", script: "postinst", name: "abort-remove-not-removed", args: []string{"abort-remove"},
		given: scriptGiven{enabled: true, active: true, files: agentFiles},
		after: scriptState{enabled: true, active: true}},
	{pkg: "rollcall-agent", script: "postinst", name: "abort-upgrade", args: []string{"abort-upgrade", "2.0.0"},
		given: scriptGiven{files: agentFiles}},
	// rollcall-agent prerm
	{pkg: "rollcall-agent", script: "prerm", name: "remove", args: []string{"remove"},
		given: scriptGiven{enabled: true, active: true, files: plusFiles(agentFiles, agentData)},
		calls: []string{agentStop, agentDisable},
		after: scriptState{exist: []string{agentMarker, agentData}}},
	{pkg: "rollcall-agent", script: "prerm", name: "remove-never-started", args: []string{"remove"},
		given: scriptGiven{enabled: true, files: agentFiles},
		calls: []string{agentStop, agentDisable, agentMkState},
		after: scriptState{exist: []string{agentMarker}, modes: map[string]fs.FileMode{"/var/lib/rollcall-agent": 0o700}}},
	{pkg: "rollcall-agent", script: "prerm", name: "remove-offline", args: []string{"remove"},
		given: scriptGiven{offline: true, enabled: true, files: plusFiles(agentFiles, agentData)},
		calls: []string{agentDisable},
		after: scriptState{exist: []string{agentMarker}}},
	{pkg: "rollcall-agent", script: "prerm", name: "remove-no-systemd", args: []string{"remove"},
		given: scriptGiven{offline: true, noSystemctl: true, files: plusFiles(agentFiles, agentData)},
		after: scriptState{exist: []string{agentMarker}}},
	{pkg: "rollcall-agent", script: "prerm", name: "upgrade", args: []string{"upgrade", "2.0.0"},
		given: scriptGiven{enabled: true, active: true, files: plusFiles(agentFiles, agentData)},
		after: scriptState{enabled: true, active: true, absent: []string{agentMarker}}},
	{pkg: "rollcall-agent", script: "prerm", name: "deconfigure", args: []string{"deconfigure", "in-favour", "other", "1.0"},
		given: scriptGiven{enabled: true, active: true, files: agentFiles},
		after: scriptState{enabled: true, active: true, absent: []string{agentMarker}}},
	{pkg: "rollcall-agent", script: "prerm", name: "failed-upgrade", args: []string{"failed-upgrade", "1.0.0"},
		given: scriptGiven{enabled: true, active: true, files: agentFiles},
		after: scriptState{enabled: true, active: true, absent: []string{agentMarker}}},
	// rollcall-agent postrm
	{pkg: "rollcall-agent", script: "postrm", name: "remove", args: []string{"remove"},
		given: scriptGiven{files: []string{"/etc/rollcall-agent/enroll-token", agentData, agentMarker}},
		calls: []string{callReload},
		after: scriptState{exist: []string{agentData, agentMarker, "/etc/rollcall-agent/enroll-token"}}},
	{pkg: "rollcall-agent", script: "postrm", name: "remove-offline", args: []string{"remove"},
		given: scriptGiven{offline: true, files: []string{agentData, agentMarker}},
		after: scriptState{exist: []string{agentData, agentMarker}}},
	{pkg: "rollcall-agent", script: "postrm", name: "purge", args: []string{"purge"},
		given: scriptGiven{files: []string{"/etc/rollcall-agent/enroll-token", agentData, agentMarker, "/var/lib/other/keep"}},
		calls: []string{agentPurge, callReload},
		after: scriptState{absent: []string{"/var/lib/rollcall-agent", "/etc/rollcall-agent"}, exist: []string{"/var/lib/other/keep"}}},
	{pkg: "rollcall-agent", script: "postrm", name: "upgrade", args: []string{"upgrade", "2.0.0"},
		given: scriptGiven{enabled: true, active: true, files: plusFiles(agentFiles, agentData)},
		after: scriptState{enabled: true, active: true, exist: []string{agentData}}},
	{pkg: "rollcall-agent", script: "postrm", name: "disappear", args: []string{"disappear", "other", "1.0"},
		given: scriptGiven{files: []string{agentData}},
		after: scriptState{exist: []string{agentData}}},

	// rollcall preinst
	{pkg: "rollcall", script: "preinst", name: "install", args: []string{"install"},
		calls: []string{callGetentGroup, callGroupadd, callGetentPasswd, callUseradd}},
	{pkg: "rollcall", script: "preinst", name: "install-group-there", args: []string{"install"},
		given: scriptGiven{group: true},
		calls: []string{callGetentGroup, callGetentPasswd, callUseradd}},
	{pkg: "rollcall", script: "preinst", name: "install-user-there", args: []string{"install"},
		given: scriptGiven{users: true},
		calls: []string{callGetentGroup, callGetentPasswd}},
	{pkg: "rollcall", script: "preinst", name: "reinstall-after-remove", args: []string{"install", "1.0.0"},
		given: scriptGiven{users: true, files: []string{serverData, serverMarker}},
		calls: []string{callGetentGroup, callGetentPasswd}},
	{pkg: "rollcall", script: "preinst", name: "upgrade", args: []string{"upgrade", "1.0.0"},
		given: scriptGiven{users: true, enabled: true, active: true},
		calls: []string{callGetentGroup, callGetentPasswd},
		after: scriptState{enabled: true, active: true}},
	{pkg: "rollcall", script: "preinst", name: "abort-upgrade", args: []string{"abort-upgrade", "2.0.0"},
		given: scriptGiven{users: true}},
	// rollcall postinst
	{pkg: "rollcall", script: "postinst", name: "first-install", args: []string{"configure", ""},
		given: scriptGiven{users: true, files: serverFiles},
		calls: []string{serverMkData, callReload, serverEnableN},
		after: scriptState{enabled: true, active: true, modes: map[string]fs.FileMode{"/var/lib/rollcall": 0o750}},
		says:  []string{serverInstallMsg}},
	{pkg: "rollcall", script: "postinst", name: "first-install-offline", args: []string{"configure", ""},
		given: scriptGiven{offline: true, users: true, files: serverFiles},
		calls: []string{serverMkData, serverEnable},
		after: scriptState{enabled: true, exist: []string{"/var/lib/rollcall"}},
		says:  []string{"starts at the next", serverInstallMsg}},
	{pkg: "rollcall", script: "postinst", name: "first-install-no-systemd", args: []string{"configure", ""},
		given: scriptGiven{offline: true, noSystemctl: true, users: true, files: serverFiles},
		calls: []string{serverMkData},
		says:  []string{"systemd is missing", serverInstallMsg}},
	{pkg: "rollcall", script: "postinst", name: "first-install-after-purge", args: []string{"configure", ""},
		given: scriptGiven{users: true, files: plusFiles(serverFiles, serverData)},
		calls: []string{callReload, serverEnableN},
		after: scriptState{enabled: true, active: true, exist: []string{serverData}}},
	{pkg: "rollcall", script: "postinst", name: "upgrade", args: []string{"configure", "1.0.0"},
		given:   scriptGiven{users: true, enabled: true, active: true, files: plusFiles(serverFiles, serverData)},
		calls:   []string{callReload, serverRestart, serverIsOn},
		after:   scriptState{enabled: true, active: true, exist: []string{serverData}},
		saysNot: []string{"disabled", serverInstallMsg}},
	{pkg: "rollcall", script: "postinst", name: "upgrade-disabled-on-purpose", args: []string{"configure", "1.0.0"},
		given: scriptGiven{users: true, files: plusFiles(serverFiles, serverData)},
		calls: []string{callReload, serverRestart, serverIsOn},
		says:  []string{"rollcall.service is disabled; to run the server: systemctl enable --now"}},
	{pkg: "rollcall", script: "postinst", name: "reinstall-after-remove", args: []string{"configure", "1.0.0"},
		given: scriptGiven{users: true, files: plusFiles(serverFiles, serverData, serverMarker)},
		calls: []string{callReload, serverEnableN, serverUnmark},
		after: scriptState{enabled: true, active: true, exist: []string{serverData}, absent: []string{serverMarker}},
		says:  []string{"installed again"}, saysNot: []string{serverInstallMsg}},
	{pkg: "rollcall", script: "postinst", name: "reinstall-after-remove-offline", args: []string{"configure", "1.0.0"},
		given: scriptGiven{offline: true, users: true, files: plusFiles(serverFiles, serverData, serverMarker)},
		calls: []string{serverEnable, serverUnmark},
		after: scriptState{enabled: true, absent: []string{serverMarker}}},
	{pkg: "rollcall", script: "postinst", name: "abort-remove", args: []string{"abort-remove"},
		given: scriptGiven{users: true, files: plusFiles(serverFiles, serverData, serverMarker)},
		calls: []string{callReload, serverEnableN, serverUnmark},
		after: scriptState{enabled: true, active: true, absent: []string{serverMarker}}},
	{pkg: "rollcall", script: "postinst", name: "abort-upgrade", args: []string{"abort-upgrade", "2.0.0"},
		given: scriptGiven{users: true, files: serverFiles}},
	// rollcall prerm
	{pkg: "rollcall", script: "prerm", name: "remove", args: []string{"remove"},
		given: scriptGiven{users: true, enabled: true, active: true, files: plusFiles(serverFiles, serverData)},
		calls: []string{serverStop, serverDisable},
		after: scriptState{exist: []string{serverMarker, serverData}}},
	{pkg: "rollcall", script: "prerm", name: "remove-data-folder-gone", args: []string{"remove"},
		given: scriptGiven{users: true, enabled: true, active: true, files: serverFiles},
		calls: []string{serverStop, serverDisable, serverMkData},
		after: scriptState{exist: []string{serverMarker}, modes: map[string]fs.FileMode{"/var/lib/rollcall": 0o750}}},
	{pkg: "rollcall", script: "prerm", name: "remove-offline", args: []string{"remove"},
		given: scriptGiven{offline: true, users: true, enabled: true, files: plusFiles(serverFiles, serverData)},
		calls: []string{serverDisable},
		after: scriptState{exist: []string{serverMarker}}},
	{pkg: "rollcall", script: "prerm", name: "upgrade", args: []string{"upgrade", "2.0.0"},
		given: scriptGiven{users: true, enabled: true, active: true, files: plusFiles(serverFiles, serverData)},
		after: scriptState{enabled: true, active: true, absent: []string{serverMarker}}},
	{pkg: "rollcall", script: "prerm", name: "failed-upgrade", args: []string{"failed-upgrade", "1.0.0"},
		given: scriptGiven{users: true, enabled: true, active: true, files: serverFiles},
		after: scriptState{enabled: true, active: true}},
	// rollcall postrm
	{pkg: "rollcall", script: "postrm", name: "remove", args: []string{"remove"},
		given: scriptGiven{users: true, files: []string{"/etc/rollcall/rollcall.env", serverData, serverMarker}},
		calls: []string{callReload},
		after: scriptState{exist: []string{serverData, serverMarker}}},
	{pkg: "rollcall", script: "postrm", name: "purge", args: []string{"purge"},
		given: scriptGiven{users: true, files: []string{serverData, serverMarker}},
		calls: []string{serverUnmark, callReload},
		after: scriptState{exist: []string{serverData}, absent: []string{serverMarker}},
		says:  []string{"kept /var/lib/rollcall"}},
	{pkg: "rollcall", script: "postrm", name: "purge-no-data", args: []string{"purge"},
		given:   scriptGiven{offline: true, users: true},
		saysNot: []string{"kept"}},
	{pkg: "rollcall", script: "postrm", name: "upgrade", args: []string{"upgrade", "2.0.0"},
		given: scriptGiven{users: true, enabled: true, active: true, files: plusFiles(serverFiles, serverData)},
		after: scriptState{enabled: true, active: true, exist: []string{serverData}}},
}

// rpmScriptCases are the rpm's scriptlets with every number rpm passes.
var rpmScriptCases = []scriptCase{
	// rollcall-agent
	{pkg: "rollcall-agent", script: "postinstall", name: "install", args: []string{"1"},
		given: scriptGiven{files: agentFiles},
		calls: []string{agentChown, agentChmod, callReload, agentEnableN},
		after: scriptState{enabled: true, active: true},
		says:  []string{agentInstallMsg}},
	{pkg: "rollcall-agent", script: "postinstall", name: "install-offline", args: []string{"1"},
		given: scriptGiven{offline: true, files: agentFiles},
		calls: []string{agentChown, agentChmod, agentEnable},
		after: scriptState{enabled: true}},
	{pkg: "rollcall-agent", script: "postinstall", name: "install-after-deb-marker", args: []string{"1"},
		given: scriptGiven{files: plusFiles(agentFiles, agentMarker)},
		calls: []string{agentChown, agentChmod, callReload, agentEnableN, agentUnmark},
		after: scriptState{enabled: true, active: true, absent: []string{agentMarker}}},
	{pkg: "rollcall-agent", script: "postinstall", name: "upgrade", args: []string{"2"},
		given: scriptGiven{enabled: true, active: true, files: agentFiles},
		calls: []string{agentChown, agentChmod, callReload, agentRestart, agentIsOn},
		after: scriptState{enabled: true, active: true}},
	{pkg: "rollcall-agent", script: "postinstall", name: "upgrade-disabled-on-purpose", args: []string{"2"},
		given: scriptGiven{files: agentFiles},
		calls: []string{agentChown, agentChmod, callReload, agentRestart, agentIsOn},
		says:  []string{"is disabled"}},
	{pkg: "rollcall-agent", script: "postinstall", name: "upgrade-offline", args: []string{"2"},
		given: scriptGiven{offline: true, enabled: true, files: agentFiles},
		calls: []string{agentChown, agentChmod, agentIsOn},
		after: scriptState{enabled: true}},
	{pkg: "rollcall-agent", script: "preuninstall", name: "erase", args: []string{"0"},
		given: scriptGiven{enabled: true, active: true, files: plusFiles(agentFiles, agentData)},
		calls: []string{agentStop, agentDisable},
		after: scriptState{exist: []string{agentData}, absent: []string{agentMarker}}},
	{pkg: "rollcall-agent", script: "preuninstall", name: "erase-offline", args: []string{"0"},
		given: scriptGiven{offline: true, enabled: true, files: agentFiles},
		calls: []string{agentDisable},
		after: scriptState{absent: []string{agentMarker, "/var/lib/rollcall-agent"}}},
	{pkg: "rollcall-agent", script: "preuninstall", name: "upgrade", args: []string{"1"},
		given: scriptGiven{enabled: true, active: true, files: agentFiles},
		after: scriptState{enabled: true, active: true}},
	{pkg: "rollcall-agent", script: "postuninstall", name: "erase", args: []string{"0"},
		given: scriptGiven{files: []string{agentData, "/etc/rollcall-agent/enroll-token"}},
		calls: []string{callReload},
		after: scriptState{exist: []string{agentData, "/etc/rollcall-agent/enroll-token"}}},
	{pkg: "rollcall-agent", script: "postuninstall", name: "erase-offline", args: []string{"0"},
		given: scriptGiven{offline: true, files: []string{agentData}},
		after: scriptState{exist: []string{agentData}}},
	{pkg: "rollcall-agent", script: "postuninstall", name: "upgrade", args: []string{"1"},
		given: scriptGiven{enabled: true, active: true, files: plusFiles(agentFiles, agentData)},
		after: scriptState{enabled: true, active: true, exist: []string{agentData}}},

	// rollcall
	{pkg: "rollcall", script: "preinstall", name: "install", args: []string{"1"},
		calls: []string{callGetentGroup, callGroupadd, callGetentPasswd, callUseradd}},
	{pkg: "rollcall", script: "preinstall", name: "install-user-there", args: []string{"1"},
		given: scriptGiven{users: true},
		calls: []string{callGetentGroup, callGetentPasswd}},
	{pkg: "rollcall", script: "preinstall", name: "upgrade", args: []string{"2"},
		given: scriptGiven{users: true, enabled: true, active: true},
		calls: []string{callGetentGroup, callGetentPasswd},
		after: scriptState{enabled: true, active: true}},
	{pkg: "rollcall", script: "postinstall", name: "install", args: []string{"1"},
		given: scriptGiven{users: true, files: serverFiles},
		calls: []string{serverMkData, callReload, serverEnableN},
		after: scriptState{enabled: true, active: true, modes: map[string]fs.FileMode{"/var/lib/rollcall": 0o750}},
		says:  []string{serverInstallMsg}},
	{pkg: "rollcall", script: "postinstall", name: "install-offline", args: []string{"1"},
		given: scriptGiven{offline: true, users: true, files: serverFiles},
		calls: []string{serverMkData, serverEnable},
		after: scriptState{enabled: true}},
	{pkg: "rollcall", script: "postinstall", name: "reinstall-after-erase", args: []string{"1"},
		given: scriptGiven{users: true, files: plusFiles(serverFiles, serverData)},
		calls: []string{callReload, serverEnableN},
		after: scriptState{enabled: true, active: true, exist: []string{serverData}}},
	{pkg: "rollcall", script: "postinstall", name: "upgrade", args: []string{"2"},
		given: scriptGiven{users: true, enabled: true, active: true, files: plusFiles(serverFiles, serverData)},
		calls: []string{callReload, serverRestart, serverIsOn},
		after: scriptState{enabled: true, active: true}},
	{pkg: "rollcall", script: "postinstall", name: "upgrade-disabled-on-purpose", args: []string{"2"},
		given: scriptGiven{users: true, files: plusFiles(serverFiles, serverData)},
		calls: []string{callReload, serverRestart, serverIsOn},
		says:  []string{"is disabled"}},
	{pkg: "rollcall", script: "preuninstall", name: "erase", args: []string{"0"},
		given: scriptGiven{users: true, enabled: true, active: true, files: plusFiles(serverFiles, serverData)},
		calls: []string{serverStop, serverDisable},
		after: scriptState{exist: []string{serverData}, absent: []string{serverMarker}}},
	{pkg: "rollcall", script: "preuninstall", name: "erase-offline", args: []string{"0"},
		given: scriptGiven{offline: true, users: true, enabled: true, files: plusFiles(serverFiles, serverData)},
		calls: []string{serverDisable},
		after: scriptState{absent: []string{serverMarker}}},
	{pkg: "rollcall", script: "preuninstall", name: "upgrade", args: []string{"1"},
		given: scriptGiven{users: true, enabled: true, active: true, files: serverFiles},
		after: scriptState{enabled: true, active: true}},
	{pkg: "rollcall", script: "postuninstall", name: "erase", args: []string{"0"},
		given: scriptGiven{users: true, files: []string{serverData}},
		calls: []string{callReload},
		after: scriptState{exist: []string{serverData}}},
	{pkg: "rollcall", script: "postuninstall", name: "upgrade", args: []string{"1"},
		given: scriptGiven{users: true, enabled: true, active: true, files: plusFiles(serverFiles, serverData)},
		after: scriptState{enabled: true, active: true}},
}

// TestDeb_ScriptsRun runs each deb maintainer script as dpkg would, on a
// stand-in system, and checks every call it makes and what it leaves.
func TestDeb_ScriptsRun(t *testing.T) {
	runScriptCases(t, "deb", debScriptCases)
}

// TestRPM_ScriptsRun runs each rpm scriptlet as rpm would, on a stand-in
// system, and checks every call it makes and what it leaves.
func TestRPM_ScriptsRun(t *testing.T) {
	runScriptCases(t, "rpm", rpmScriptCases)
}

func runScriptCases(t *testing.T, format string, cases []scriptCase) {
	dir := built(t)
	scripts := map[string]string{}
	for _, p := range linuxPackages {
		scripts[p.name] = packagedScripts(t, dir, p.name)
		// Every script a package has is run by some case.
		entries, err := os.ReadDir(filepath.Join(scripts[p.name], format))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(scripts[p.name], format, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(b), "#!/bin/sh\n") {
				continue // control, md5sums, conffiles
			}
			if found := scriptAbsoluteCommands(string(b)); len(found) > 0 {
				t.Errorf("%s %s runs %q by its path, which no stub shadows", p.name, e.Name(), found)
			}
			if !slices.ContainsFunc(cases, func(c scriptCase) bool { return c.pkg == p.name && c.script == e.Name() }) {
				t.Errorf("%s %s: no case runs it", p.name, e.Name())
			}
		}
	}
	refusers := scriptRefusers(t)
	for _, sh := range scriptShells(t) {
		for _, c := range cases {
			t.Run(sh.name+"/"+c.pkg+"/"+c.script+"/"+c.name, func(t *testing.T) {
				script := filepath.Join(scripts[c.pkg], format, c.script)
				if _, err := os.Stat(script); err != nil {
					t.Fatalf("%s has no %s: %v", c.pkg, c.script, err)
				}
				s := newScriptSystem(t, sh.path, refusers, c.given)
				r := s.run(t, script, c.args...)
				for _, p := range r.problems() {
					t.Error(p)
				}
				if !slices.Equal(r.calls, c.calls) {
					t.Errorf("%s %q called:\n\t%s\nwant:\n\t%s", c.script, c.args, strings.Join(r.calls, "\n\t"), strings.Join(c.calls, "\n\t"))
				}
				s.check(t, c.pkg, c.after)
				for _, w := range c.says {
					if !strings.Contains(r.stdout, w) {
						t.Errorf("it does not say %q:\n%s", w, r.stdout)
					}
				}
				for _, w := range c.saysNot {
					if strings.Contains(r.stdout, w) {
						t.Errorf("it says %q:\n%s", w, r.stdout)
					}
				}
			})
		}
	}
}

// scriptStep is one step of a package's life on a system: what dpkg or
// rpm (or a technician) does, and how the unit and the data are after it.
type scriptStep struct {
	what            string
	do              func()
	enabled, active bool
	marker, data    bool // preremove's marker, and the service's data, are there
}

// TestLinux_ScriptSequences runs the scripts in the order dpkg and rpm
// run them through a package's life on one stand-in system: install, a
// technician disabling the service, an upgrade (which must leave it
// disabled), enabling it again, a removal, a reinstall (which must
// enable and start it again), an upgrade, a purge and a new install.
func TestLinux_ScriptSequences(t *testing.T) {
	dir := built(t)
	refusers := scriptRefusers(t)
	for _, sh := range scriptShells(t) {
		for _, p := range linuxPackages {
			scripts := packagedScripts(t, dir, p.name)
			unit := p.name + ".service"
			data, marker := agentData, agentMarker
			if p.name == "rollcall" {
				data, marker = serverData, serverMarker
			}
			for _, offline := range []bool{false, true} {
				name := sh.name + "/" + p.name
				if offline {
					name += "/offline"
				}
				t.Run(name+"/deb", func(t *testing.T) {
					s := newScriptSystem(t, sh.path, refusers, scriptGiven{offline: offline})
					deb := func(script string, args ...string) {
						t.Helper()
						file := filepath.Join(scripts, "deb", script)
						if _, err := os.Stat(file); os.IsNotExist(err) {
							return // the agent has no preinst
						}
						for _, p := range s.run(t, file, args...).problems() {
							t.Errorf("%s %q: %s", script, args, p)
						}
					}
					install := func(old string) func() {
						return func() {
							if old == "" {
								deb("preinst", "install")
							} else {
								deb("preinst", "install", old)
							}
							s.make(t, linuxShipped(p.name)...)
							deb("postinst", "configure", old)
						}
					}
					upgrade := func(old, new string) func() {
						return func() {
							deb("prerm", "upgrade", new)
							deb("preinst", "upgrade", old)
							s.make(t, linuxShipped(p.name)...)
							deb("postrm", "upgrade", new)
							deb("postinst", "configure", old)
						}
					}
					remove := func() {
						deb("prerm", "remove")
						s.unship(t, p)
						deb("postrm", "remove")
					}
					steps := []scriptStep{
						{what: "install 1.0", do: install(""), enabled: true, active: true},
						{what: "the service writes its data", do: func() { s.make(t, data) }, enabled: true, active: true, data: true},
						{what: "a technician disables it", do: func() { s.setUnit(t, unit, false, false) }, data: true},
						{what: "upgrade to 2.0", do: upgrade("1.0", "2.0"), data: true},
						{what: "a technician enables it", do: func() { s.setUnit(t, unit, true, !offline) }, enabled: true, active: true, data: true},
						{what: "upgrade to 2.1", do: upgrade("2.0", "2.1"), enabled: true, active: true, data: true},
						{what: "remove", do: remove, marker: true, data: true},
						{what: "install 2.1 again", do: install("2.1"), enabled: true, active: true, data: true},
						{what: "upgrade to 3.0", do: upgrade("2.1", "3.0"), enabled: true, active: true, data: true},
						{what: "a technician disables it", do: func() { s.setUnit(t, unit, false, false) }, data: true},
						{what: "remove", do: remove, marker: true, data: true},
						{what: "install 3.0 again", do: install("3.0"), enabled: true, active: true, data: true},
						{what: "purge", do: func() { remove(); deb("postrm", "purge") }, data: p.name == "rollcall"},
						{what: "install 3.0 after the purge", do: install(""), enabled: true, active: true, data: p.name == "rollcall"},
					}
					s.runSteps(t, unit, marker, data, offline, steps)
				})
			}
			t.Run(sh.name+"/"+p.name+"/rpm", func(t *testing.T) {
				s := newScriptSystem(t, sh.path, refusers, scriptGiven{})
				rpm := func(script, n string) {
					t.Helper()
					file := filepath.Join(scripts, "rpm", script)
					if _, err := os.Stat(file); os.IsNotExist(err) {
						return
					}
					for _, p := range s.run(t, file, n).problems() {
						t.Errorf("%s %s: %s", script, n, p)
					}
				}
				install := func() {
					rpm("preinstall", "1")
					s.make(t, linuxShipped(p.name)...)
					rpm("postinstall", "1")
				}
				upgrade := func() {
					rpm("preinstall", "2")
					s.make(t, linuxShipped(p.name)...)
					rpm("postinstall", "2")
					rpm("preuninstall", "1")
					rpm("postuninstall", "1")
				}
				erase := func() {
					rpm("preuninstall", "0")
					s.unship(t, p)
					rpm("postuninstall", "0")
				}
				steps := []scriptStep{
					{what: "install", do: install, enabled: true, active: true},
					{what: "the service writes its data", do: func() { s.make(t, data) }, enabled: true, active: true, data: true},
					{what: "a technician disables it", do: func() { s.setUnit(t, unit, false, false) }, data: true},
					{what: "upgrade", do: upgrade, data: true},
					{what: "a technician enables it", do: func() { s.setUnit(t, unit, true, true) }, enabled: true, active: true, data: true},
					{what: "upgrade", do: upgrade, enabled: true, active: true, data: true},
					{what: "erase", do: erase, data: true},
					{what: "install again", do: install, enabled: true, active: true, data: true},
				}
				s.runSteps(t, unit, marker, data, false, steps)
			})
		}
	}
}

// unship removes the files of p that dpkg or rpm removes with it: all but
// its configuration files, and folders that are not empty.
func (s *scriptSystem) unship(t *testing.T, p linuxPackage) {
	t.Helper()
	for i := len(p.files) - 1; i >= 0; i-- {
		f := p.files[i]
		if slices.Contains(p.conffiles, f.path) {
			continue
		}
		err := os.Remove(filepath.Join(s.root, f.path))
		if err != nil && !os.IsNotExist(err) && !(f.mode.IsDir() && s.exists(f.path)) {
			t.Fatal(err)
		}
	}
}

// runSteps takes the system through steps, checking it after each.
func (s *scriptSystem) runSteps(t *testing.T, unit, marker, data string, offline bool, steps []scriptStep) {
	t.Helper()
	for i, st := range steps {
		st.do()
		active := st.active && !offline
		if enabled, isActive := s.unit(unit); enabled != st.enabled || isActive != active {
			t.Errorf("after step %d, %s: enabled %v, active %v; want enabled %v, active %v", i+1, st.what, enabled, isActive, st.enabled, active)
		}
		if got := s.exists(marker); got != st.marker {
			t.Errorf("after step %d, %s: marker there %v, want %v", i+1, st.what, got, st.marker)
		}
		if got := s.exists(data); got != st.data {
			t.Errorf("after step %d, %s: %s there %v, want %v", i+1, st.what, data, got, st.data)
		}
	}
}

// TestLinux_ScriptStubsRefuse checks that the stand-in system can fail a
// script: one that runs a command with no stub, that reaches outside the
// root, that asks systemctl for what it does not stub, or that names a
// command by its path.
func TestLinux_ScriptStubsRefuse(t *testing.T) {
	shell := scriptShells(t)[0].path
	refusers := scriptRefusers(t)
	for _, c := range []struct {
		name, script string
		problem      string // part of what problems or absoluteCommands says; "" for none
	}{
		{"Fine", `systemctl daemon-reload; rm -f "$ROLLCALL_PKG_ROOT/var/x"; cat </dev/null`, ""},
		{"NotStubbed", "adduser --system rollcall || true", "REFUSED adduser: neither stubbed nor allowed"},
		{"NotStubbedQuiet", "id -u rollcall >/dev/null 2>&1 || true", "REFUSED id: neither stubbed nor allowed"},
		{"NotOnThisMachine", "no-such-command-rollcall || true", "not found"},
		{"OutsideRoot", "rm -rf /var/lib/rollcall-agent", "REFUSED rm: /var/lib/rollcall-agent is not inside the test root"},
		{"DotDot", `mkdir -p "$ROLLCALL_PKG_ROOT/../escape"`, "has a .. in it"},
		{"ChmodOutside", "chmod 0700 /etc/rollcall-agent || true", "REFUSED chmod"},
		{"SystemctlVerb", "systemctl mask rollcall.service || true", "REFUSED systemctl: systemctl mask: not stubbed"},
		{"SystemctlTwoUnits", "systemctl enable a.service b.service || true", "REFUSED systemctl"},
		{"NoSuchUser", `install -d -o nobody9 "$ROLLCALL_PKG_ROOT/x"`, "invalid user"},
		{"Fails", "exit 3", "exit status 3"},
		{"ByPath", "/usr/bin/systemctl stop rollcall.service", "/usr/bin/systemctl"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newScriptSystem(t, shell, refusers, scriptGiven{})
			file := filepath.Join(t.TempDir(), "script")
			if err := os.WriteFile(file, []byte("#!/bin/sh\n"+c.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			var said []string
			if c.name == "ByPath" {
				// Not run: it would reach this machine's systemctl.
				said = scriptAbsoluteCommands(c.script)
			} else {
				said = s.run(t, file).problems()
			}
			all := strings.Join(said, "\n")
			switch {
			case c.problem == "" && len(said) > 0:
				t.Errorf("problems with a fine script:\n%s", all)
			case c.problem != "" && !strings.Contains(all, c.problem):
				t.Errorf("problems %q, want one saying %q", all, c.problem)
			}
			if c.name == "OutsideRoot" || c.name == "DotDot" {
				if _, err := os.Stat(filepath.Join(filepath.Dir(s.root), "escape")); err == nil {
					t.Error("mkdir made a folder outside the root")
				}
			}
		})
	}
}
