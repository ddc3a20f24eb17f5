package installers_test

// The checks of the Linux packages that linux/build.sh makes: their
// contents, metadata and maintainer scripts as dpkg-deb and rpm read
// them, their systemd units as systemd-analyze reads them, and the
// binaries inside. Nothing here installs a package or runs a maintainer
// script: dpkg-deb -x only unpacks the files into a temporary folder.

import (
	"bufio"
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
				"[ -d /run/systemd/system ]", "systemctl daemon-reload", `systemctl enable --now "$unit"`,
				`systemctl try-restart "$unit"`, "unit=rollcall-agent.service", "/etc/rollcall-agent/enroll-token",
				"chmod 0700 /etc/rollcall-agent"}},
			{"prerm", "preuninstall", "rollcall-agent/preremove.sh", []string{
				"remove | 0)", `systemctl stop "$unit"`, `systemctl disable "$unit"`, "unit=rollcall-agent.service"}},
			{"postrm", "postuninstall", "rollcall-agent/postremove.sh", []string{
				"purge)", "rm -rf /var/lib/rollcall-agent /etc/rollcall-agent", "systemctl daemon-reload"}},
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
				"[ -d /run/systemd/system ]", "systemctl daemon-reload", `systemctl enable --now "$unit"`,
				`systemctl try-restart "$unit"`, "unit=rollcall.service", "sudo -u rollcall rollcall user add --data-dir /var/lib/rollcall"}},
			{"prerm", "preuninstall", "rollcall/preremove.sh", []string{
				"remove | 0)", `systemctl stop "$unit"`, `systemctl disable "$unit"`, "unit=rollcall.service"}},
			{"postrm", "postuninstall", "rollcall/postremove.sh", []string{"purge)", "systemctl daemon-reload"}},
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
	header := regexp.MustCompile(`(?m)^(\w+) scriptlet \(using ([^)]+)\):\n`)
	for _, p := range linuxPackages {
		for _, a := range linuxArches {
			t.Run(p.name+"-"+a.goarch, func(t *testing.T) {
				out := run(t, "rpm", "-qp", "--scripts", rpmFile(dir, p.name, a.rpm))
				got := map[string]string{}
				heads := header.FindAllStringSubmatchIndex(out, -1)
				for i, h := range heads {
					end := len(out)
					if i+1 < len(heads) {
						end = heads[i+1][0]
					}
					name, shell := out[h[2]:h[3]], out[h[4]:h[5]]
					if shell != "/bin/sh" {
						t.Errorf("%s scriptlet runs with %s, want /bin/sh", name, shell)
					}
					got[name] = strings.TrimSpace(out[h[1]:end])
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
