package installers_test

import (
	"bytes"
	"debug/pe"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The Windows installers: what the MSIs hold, read with msitools as
// Windows Installer would read their tables, and their signatures, checked
// with osslsigncode against the throwaway certificate built(t) signs with.

// upgradeCode is the MSIs' UpgradeCode (installers/windows/rollcall-agent.wxs).
// It must never change: upgrades find the installed agent by it.
const upgradeCode = "{E12C401E-88E9-4689-BEBF-D102DF9B918D}"

// serviceArgs is the command line the service runs the agent with.
const serviceArgs = `run --data-dir "[CommonAppDataFolder]Rollcall"`

// windowsArches are the MSIs built, with the platform each declares and
// the machine its executable must be built for.
var windowsArches = []struct {
	arch     string
	template string
	machine  uint16
}{
	{"amd64", "x64;1033", pe.IMAGE_FILE_MACHINE_AMD64},
	{"arm64", "Arm64;1033", pe.IMAGE_FILE_MACHINE_ARM64},
}

// msiFile is the path of the arch MSI in the build folder dir.
func msiFile(dir, arch string) string {
	return filepath.Join(dir, "rollcall-agent-"+testVersion+"-windows-"+arch+".msi")
}

// msiTable returns the rows of table in msi, each a map from column name to
// value, as `msiinfo export` prints them: the column names, their types,
// the table's name and keys, then one row a line.
func msiTable(t *testing.T, msi, table string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(run(t, "msiinfo", "export", msi, table), "\r\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("msiinfo export %s %s: no header:\n%s", filepath.Base(msi), table, strings.Join(lines, "\n"))
	}
	cols := strings.Split(strings.TrimRight(lines[0], "\r"), "\t")
	var rows []map[string]string
	for _, line := range lines[3:] {
		fields := strings.Split(strings.TrimRight(line, "\r"), "\t")
		row := make(map[string]string, len(cols))
		for i, c := range cols {
			if i < len(fields) {
				row[c] = fields[i]
			}
			// A value read with its line end left on, and written back.
			if strings.Contains(row[c], "\r") {
				t.Errorf("%s: %s.%s holds a carriage return: %q", filepath.Base(msi), table, c, row[c])
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// rowWhere returns the first row whose col is val, or nil.
func rowWhere(rows []map[string]string, col, val string) map[string]string {
	for _, r := range rows {
		if r[col] == val {
			return r
		}
	}
	return nil
}

// mustRow is rowWhere, failing the test when there is no such row.
func mustRow(t *testing.T, rows []map[string]string, table, col, val string) map[string]string {
	t.Helper()
	r := rowWhere(rows, col, val)
	if r == nil {
		t.Fatalf("%s has no row with %s = %q; rows: %v", table, col, val, rows)
	}
	return r
}

// msiInt parses an integer column, failing the test when it is not one.
func msiInt(t *testing.T, row map[string]string, col string) int {
	t.Helper()
	n, err := strconv.Atoi(row[col])
	if err != nil {
		t.Fatalf("column %s = %q, not a number (row %v)", col, row[col], row)
	}
	return n
}

// agentSource returns a file of the agent's source, which the MSI must
// agree with.
func agentSource(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "agent", "cmd", "rollcall-agent", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMSI_Tables(t *testing.T) {
	dir := built(t)
	for _, a := range windowsArches {
		t.Run(a.arch, func(t *testing.T) {
			tables := strings.Fields(run(t, "msiinfo", "tables", msiFile(dir, a.arch)))
			for _, want := range []string{"File", "Component", "ServiceInstall", "ServiceControl", "Registry",
				"Property", "Upgrade", "CreateFolder", "LaunchCondition", "MsiLockPermissionsEx"} {
				if !slices.Contains(tables, want) {
					t.Errorf("no %s table; tables: %v", want, tables)
				}
			}
		})
	}
}

func TestMSI_Service(t *testing.T) {
	dir := built(t)
	service := agentSource(t, "service.go")
	for _, a := range windowsArches {
		t.Run(a.arch, func(t *testing.T) {
			msi := msiFile(dir, a.arch)
			si := mustRow(t, msiTable(t, msi, "ServiceInstall"), "ServiceInstall", "Name", "RollcallAgent")
			if !strings.Contains(service, `serviceName = "RollcallAgent"`) {
				t.Errorf("service.go no longer names the service RollcallAgent: change the .wxs with it")
			}
			if want := "Description: " + strconv.Quote(si["Description"]) + ","; !strings.Contains(service, want) {
				t.Errorf("ServiceInstall Description %q is not the one in service.go (%s)", si["Description"], want)
			}
			ints := []struct {
				col  string
				want int
			}{
				{"ServiceType", 0x10},    // SERVICE_WIN32_OWN_PROCESS
				{"StartType", 2},         // SERVICE_AUTO_START
				{"ErrorControl", 0x8001}, // normal, and vital: the install fails if the service cannot be installed
			}
			for _, c := range ints {
				if got := msiInt(t, si, c.col); got != c.want {
					t.Errorf("ServiceInstall %s = %#x, want %#x", c.col, got, c.want)
				}
			}
			strs := []struct{ col, want string }{
				{"DisplayName", "Rollcall Agent"},
				{"StartName", "LocalSystem"},
				{"Arguments", serviceArgs},
				{"Password", ""},
			}
			for _, c := range strs {
				if si[c.col] != c.want {
					t.Errorf("ServiceInstall %s = %q, want %q", c.col, si[c.col], c.want)
				}
			}

			// The service runs the agent the component installs, in
			// [ProgramFiles64Folder]Rollcall, from 64-bit components.
			comp := mustRow(t, msiTable(t, msi, "Component"), "Component", "Component", si["Component_"])
			if attr := msiInt(t, comp, "Attributes"); attr&0x100 == 0 {
				t.Errorf("component %s is not 64-bit (Attributes %#x)", comp["Component"], attr)
			}
			file := mustRow(t, msiTable(t, msi, "File"), "File", "File", comp["KeyPath"])
			if file["FileName"] != "rollcall-agent.exe" || file["Component_"] != comp["Component"] {
				t.Errorf("the service's component's key file is %v, want rollcall-agent.exe", file)
			}
			dirs := msiTable(t, msi, "Directory")
			d := mustRow(t, dirs, "Directory", "Directory", comp["Directory_"])
			if d["DefaultDir"] != "Rollcall" || d["Directory_Parent"] != "ProgramFiles64Folder" {
				t.Errorf("the agent installs into %v, want [ProgramFiles64Folder]Rollcall", d)
			}

			sc := mustRow(t, msiTable(t, msi, "ServiceControl"), "ServiceControl", "Name", "RollcallAgent")
			event := msiInt(t, sc, "Event")
			events := []struct {
				name string
				bit  int
				want bool
			}{
				{"start on install", 0x1, true},
				{"stop on install", 0x2, true},
				{"remove on install", 0x8, false},
				{"start on uninstall", 0x10, false},
				{"stop on uninstall", 0x20, true},
				{"remove on uninstall", 0x80, true},
			}
			for _, e := range events {
				if got := event&e.bit != 0; got != e.want {
					t.Errorf("ServiceControl Event %#x: %s = %v, want %v", event, e.name, got, e.want)
				}
			}
			if sc["Wait"] != "1" {
				t.Errorf("ServiceControl Wait = %q, want 1", sc["Wait"])
			}
			if sc["Component_"] != si["Component_"] {
				t.Errorf("ServiceControl is in component %s, ServiceInstall in %s", sc["Component_"], si["Component_"])
			}
		})
	}
}

func TestMSI_Properties(t *testing.T) {
	dir := built(t)
	for _, a := range windowsArches {
		t.Run(a.arch, func(t *testing.T) {
			msi := msiFile(dir, a.arch)
			rows := msiTable(t, msi, "Property")
			prop := func(name string) string {
				if r := rowWhere(rows, "Property", name); r != nil {
					return r["Value"]
				}
				return ""
			}
			exact := []struct{ name, want string }{
				{"ProductName", "Rollcall Agent"},
				{"ProductVersion", testMSIVersion},
				{"Manufacturer", "Rollcall"},
				{"UpgradeCode", upgradeCode},
				{"ALLUSERS", "1"}, // per machine
				{"ARPNOMODIFY", "yes"},
			}
			for _, p := range exact {
				if got := prop(p.name); got != p.want {
					t.Errorf("%s = %q, want %q", p.name, got, p.want)
				}
			}
			if got := prop("ARPCOMMENTS"); !strings.Contains(got, testVersion) {
				t.Errorf("ARPCOMMENTS = %q, want it to carry the version %s", got, testVersion)
			}
			lists := []struct{ name, want string }{
				{"MsiHiddenProperties", "ENROLL_TOKEN"},
				{"SecureCustomProperties", "ENROLL_TOKEN"},
			}
			for _, p := range lists {
				if got := strings.Split(prop(p.name), ";"); !slices.Contains(got, p.want) {
					t.Errorf("%s = %q, want it to list %s", p.name, prop(p.name), p.want)
				}
			}
			// Each property an upgrade search sets must be secure, or a
			// per-machine install never sees it.
			secure := strings.Split(prop("SecureCustomProperties"), ";")
			for _, u := range msiTable(t, msi, "Upgrade") {
				if !slices.Contains(secure, u["ActionProperty"]) {
					t.Errorf("upgrade property %s is not in SecureCustomProperties %v", u["ActionProperty"], secure)
				}
			}
			// A default token would be written on every install.
			if r := rowWhere(rows, "Property", "ENROLL_TOKEN"); r != nil {
				t.Errorf("ENROLL_TOKEN has a default value %q", r["Value"])
			}
		})
	}
}

func TestMSI_EnrollToken(t *testing.T) {
	dir := built(t)
	installer := agentSource(t, "installer_windows.go")
	for _, want := range []string{"`SOFTWARE\\Rollcall\\Agent`", `"EnrollToken"`} {
		if !strings.Contains(installer, want) {
			t.Errorf("installer_windows.go no longer has %s: change the .wxs with it", want)
		}
	}
	for _, a := range windowsArches {
		t.Run(a.arch, func(t *testing.T) {
			msi := msiFile(dir, a.arch)
			reg := mustRow(t, msiTable(t, msi, "Registry"), "Registry", "Name", "EnrollToken")
			if reg["Root"] != "2" || reg["Key"] != `SOFTWARE\Rollcall\Agent` || reg["Value"] != "[ENROLL_TOKEN]" {
				t.Errorf("EnrollToken is written as %v, want [ENROLL_TOKEN] in HKLM (2) SOFTWARE\\Rollcall\\Agent", reg)
			}
			comp := mustRow(t, msiTable(t, msi, "Component"), "Component", "Component", reg["Component_"])
			if comp["Condition"] != "ENROLL_TOKEN" {
				t.Errorf("component %s has condition %q, want ENROLL_TOKEN: the value must be written only when a token is given",
					comp["Component"], comp["Condition"])
			}
			// 64-bit, so that the 64-bit agent finds it without registry
			// redirection; and only the token, with no file in it.
			if attr := msiInt(t, comp, "Attributes"); attr&0x100 == 0 {
				t.Errorf("component %s is not 64-bit (Attributes %#x): the value would land in WOW6432Node", comp["Component"], attr)
			}
			for _, f := range msiTable(t, msi, "File") {
				if f["Component_"] == comp["Component"] {
					t.Errorf("file %s is in the token's component", f["FileName"])
				}
			}
			lock := mustRow(t, msiTable(t, msi, "MsiLockPermissionsEx"), "MsiLockPermissionsEx", "LockObject", reg["Registry"])
			if lock["Table"] != "Registry" || lock["SDDLText"] != "D:P(A;CI;KA;;;SY)(A;CI;KA;;;BA)" {
				t.Errorf("the token's key is locked with %v, want SYSTEM and Administrators only, not inherited", lock)
			}
			// The data folder: owned by Administrators, SYSTEM and
			// Administrators only, so no user can plant files in it.
			folder := mustRow(t, msiTable(t, msi, "MsiLockPermissionsEx"), "MsiLockPermissionsEx", "LockObject", "DATADIR")
			if folder["Table"] != "CreateFolder" || folder["SDDLText"] != "O:BAG:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)" {
				t.Errorf("the data folder is locked with %v, want owner Administrators, SYSTEM and Administrators only", folder)
			}
			mustRow(t, msiTable(t, msi, "CreateFolder"), "CreateFolder", "Directory_", "DATADIR")
		})
	}
}

func TestMSI_Upgrade(t *testing.T) {
	dir := built(t)
	for _, a := range windowsArches {
		t.Run(a.arch, func(t *testing.T) {
			msi := msiFile(dir, a.arch)
			const (
				migrate   = 0x1
				onlyProbe = 0x2
				minIncl   = 0x100
				maxIncl   = 0x200
			)
			upgrades := msiTable(t, msi, "Upgrade")
			rows := []struct {
				name               string
				min, max           string
				attrSet, attrClear int
			}{
				{"removes older versions", "", testMSIVersion, migrate, onlyProbe | maxIncl},
				{"removes the same version", testMSIVersion, testMSIVersion, migrate | minIncl | maxIncl, onlyProbe},
				{"detects newer versions", testMSIVersion, "", onlyProbe, minIncl},
			}
			for _, r := range rows {
				var found map[string]string
				for _, u := range upgrades {
					if u["UpgradeCode"] == upgradeCode && u["VersionMin"] == r.min && u["VersionMax"] == r.max {
						found = u
					}
				}
				if found == nil {
					t.Errorf("%s: no Upgrade row from %q to %q; rows: %q", r.name, r.min, r.max, upgrades)
					continue
				}
				if attr := msiInt(t, found, "Attributes"); attr&r.attrSet != r.attrSet || attr&r.attrClear != 0 {
					t.Errorf("%s: Upgrade Attributes = %#x, want %#x set and %#x clear", r.name, attr, r.attrSet, r.attrClear)
				}
				if r.name == "detects newer versions" {
					// A newer version installed refuses the install.
					cond := "NOT " + found["ActionProperty"]
					if rowWhere(msiTable(t, msi, "LaunchCondition"), "Condition", cond) == nil {
						t.Errorf("no launch condition %q: a downgrade would not be refused", cond)
					}
				}
			}
			if rowWhere(msiTable(t, msi, "InstallExecuteSequence"), "Action", "RemoveExistingProducts") == nil {
				t.Error("InstallExecuteSequence has no RemoveExistingProducts: the older version would stay")
			}

			conds := msiTable(t, msi, "LaunchCondition")
			var windows10 bool
			for _, c := range conds {
				windows10 = windows10 || strings.Contains(c["Condition"], "VersionNT >= 603")
			}
			if !windows10 {
				t.Errorf("no launch condition on the Windows version; conditions: %v", conds)
			}

			// The data folder: created, with nothing of the MSI's in it, so
			// that an upgrade or removal keeps the enrolment.
			var data map[string]string
			for _, r := range msiTable(t, msi, "Directory") {
				if r["Directory_Parent"] == "CommonAppDataFolder" && r["DefaultDir"] == "Rollcall" {
					data = r
				}
			}
			if data == nil {
				t.Fatal("no [CommonAppDataFolder]Rollcall directory")
			}
			cf := mustRow(t, msiTable(t, msi, "CreateFolder"), "CreateFolder", "Directory_", data["Directory"])
			comps := msiTable(t, msi, "Component")
			for _, f := range msiTable(t, msi, "File") {
				if c := rowWhere(comps, "Component", f["Component_"]); c != nil && c["Directory_"] == data["Directory"] {
					t.Errorf("the MSI installs %s into the data folder: removing it would remove the file", f["FileName"])
				}
			}
			if c := rowWhere(comps, "Component", cf["Component_"]); c == nil || c["KeyPath"] != "" {
				t.Errorf("the data folder's component is %v, want the folder as its key path", c)
			}
		})
	}
}

func TestMSI_SummaryInformation(t *testing.T) {
	dir := built(t)
	for _, a := range windowsArches {
		t.Run(a.arch, func(t *testing.T) {
			lines := strings.Split(run(t, "msiinfo", "suminfo", msiFile(dir, a.arch)), "\n")
			// msibuild -s, which sets the arm64 Template, also sets
			// Subject and Author: they must still be right.
			for _, want := range []string{
				"Template: " + a.template,
				"Subject: Rollcall Agent " + testVersion,
				"Author: Rollcall",
				"Version: 500 (1f4)", // InstallerVersion, for Arm64 and 64-bit packages
				"Source: 2 (2)",      // compressed, per machine
			} {
				if !slices.Contains(lines, want) {
					t.Errorf("summary information has no %q:\n%s", want, strings.Join(lines, "\n"))
				}
			}
		})
	}
}

// windowsSigned lists the files the build signs, relative to its folder.
func windowsSigned() []string {
	var files []string
	for _, a := range windowsArches {
		files = append(files,
			filepath.Base(msiFile("", a.arch)),
			filepath.Join("bin", "windows-"+a.arch, "rollcall-agent.exe"))
	}
	return files
}

// verify runs osslsigncode verify against the build's certificate and
// returns its output and whether the signature checked.
func verify(t *testing.T, file string) (string, bool) {
	t.Helper()
	out, err := exec.Command(tool(t, "osslsigncode"), "verify", "-CAfile", build.cert, "-in", file).CombinedOutput()
	return string(out), err == nil
}

func TestWindows_Signatures(t *testing.T) {
	dir := built(t)
	for _, name := range windowsSigned() {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, name)
			if out, ok := verify(t, file); !ok {
				t.Fatalf("osslsigncode verify %s failed:\n%s", name, out)
			}

			// The same check must fail on a copy without the signature
			// and on one changed after signing.
			unsigned := filepath.Join(t.TempDir(), "unsigned"+filepath.Ext(name))
			run(t, "osslsigncode", "remove-signature", "-in", file, "-out", unsigned)
			if out, ok := verify(t, unsigned); ok {
				t.Errorf("an unsigned copy of %s verifies:\n%s", name, out)
			}
			changed := filepath.Join(t.TempDir(), "changed"+filepath.Ext(name))
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(changed, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if filepath.Ext(name) == ".msi" {
				// What Windows Installer would act on: a table.
				run(t, "msibuild", changed, "-q", "UPDATE `Property` SET `Value` = 'Tampered' WHERE `Property` = 'Manufacturer'")
			} else {
				b[len(b)/2] ^= 0xff
				if err := os.WriteFile(changed, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if out, ok := verify(t, changed); ok {
				t.Errorf("a copy of %s changed after signing verifies:\n%s", name, out)
			}
		})
	}
}

func TestMSI_Agent(t *testing.T) {
	dir := built(t)
	for _, a := range windowsArches {
		t.Run(a.arch, func(t *testing.T) {
			tmp := t.TempDir()
			run(t, "msiextract", "-C", tmp, msiFile(dir, a.arch))
			var exes []string
			filepath.WalkDir(tmp, func(path string, d fs.DirEntry, err error) error {
				if err == nil && d.Name() == "rollcall-agent.exe" {
					exes = append(exes, path)
				}
				return err
			})
			if len(exes) != 1 {
				t.Fatalf("the MSI holds %d rollcall-agent.exe, want 1: %v", len(exes), exes)
			}
			exe := exes[0]
			if got := filepath.Base(filepath.Dir(exe)); got != "Rollcall" {
				t.Errorf("rollcall-agent.exe is in %s, want Rollcall", got)
			}

			f, err := pe.Open(exe)
			if err != nil {
				t.Fatalf("not a PE file: %v", err)
			}
			machine := f.Machine
			f.Close()
			if machine != a.machine {
				t.Errorf("PE machine = %#x, want %#x", machine, a.machine)
			}
			b, err := os.ReadFile(exe)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte(testVersion)) {
				t.Errorf("rollcall-agent.exe does not carry the version %s", testVersion)
			}
			if out, ok := verify(t, exe); !ok {
				t.Errorf("the packed rollcall-agent.exe is not signed:\n%s", out)
			}
			want, err := os.ReadFile(filepath.Join(dir, "bin", "windows-"+a.arch, "rollcall-agent.exe"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, want) {
				t.Errorf("the packed rollcall-agent.exe is not the one built for windows/%s", a.arch)
			}
		})
	}
}

// windowsOut prepares a folder as installers/build.sh leaves it for
// windows/build.sh, with stand-ins for the executables (wixl packs any
// file).
func windowsOut(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	for _, a := range windowsArches {
		bin := filepath.Join(out, "bin", "windows-"+a.arch)
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, "rollcall-agent.exe"), []byte("MZ stand-in "+a.arch), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// windowsBuild runs script (installers/windows/build.sh, or a changed
// copy) on out, with no signing material unless env, added to the
// environment, gives some; it returns the output and error.
func windowsBuild(script, out string, env ...string) (string, error) {
	cmd := exec.Command(script, out)
	cmd.Env = append(os.Environ(), "VERSION="+testVersion, "MSI_VERSION="+testMSIVersion,
		"SIGN_PKCS12=", "SIGN_PKCS12_PASSWORD=", "SIGN_CERT=", "SIGN_KEY=", "SIGN_TIMESTAMP_URL=", "PATH="+toolPath())
	cmd.Env = append(cmd.Env, env...)
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// pathWithout returns a PATH with every command of toolPath but the names
// given, as links in a temporary folder.
func pathWithout(t *testing.T, names ...string) string {
	t.Helper()
	bin := t.TempDir()
	for _, dir := range filepath.SplitList(toolPath()) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if slices.Contains(names, e.Name()) {
				continue
			}
			if _, err := os.Lstat(filepath.Join(bin, e.Name())); err == nil {
				continue // an earlier folder's comes first
			}
			os.Symlink(filepath.Join(dir, e.Name()), filepath.Join(bin, e.Name()))
		}
	}
	return bin
}

func TestWindowsBuild_Unsigned(t *testing.T) {
	tool(t, "wixl")
	out := windowsOut(t)
	log, err := windowsBuild("./windows/build.sh", out)
	if err != nil {
		t.Fatalf("windows/build.sh: %v\n%s", err, log)
	}
	if !strings.Contains(log, "unsigned") {
		t.Errorf("the build does not say it is unsigned:\n%s", log)
	}
	for _, a := range windowsArches {
		msi := msiFile(out, a.arch)
		if !strings.Contains(log, filepath.Base(msi)+" (unsigned)") {
			t.Errorf("the build does not list %s as unsigned:\n%s", filepath.Base(msi), log)
		}
		if _, err := os.Stat(msi); err != nil {
			t.Fatal(err)
		}
		// Not signed: the check the signed build passes fails here.
		cmd := exec.Command(tool(t, "osslsigncode"), "verify", "-in", msi)
		if b, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("%s verifies without being signed:\n%s", filepath.Base(msi), b)
		}
		if got := run(t, "msiinfo", "suminfo", msi); !strings.Contains(got, "Template: "+a.template+"\n") {
			t.Errorf("%s: summary information has no Template %s:\n%s", a.arch, a.template, got)
		}
	}
}

func TestWindowsBuild_Refuses(t *testing.T) {
	tool(t, "wixl")
	cert := filepath.Join(t.TempDir(), "sign.crt")
	key := filepath.Join(filepath.Dir(cert), "sign.key")
	if err := signingCert(cert, key); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  []string
		rm   string // a file of the prepared folder to remove
		want string // in the message
	}{
		{"NoWixl", []string{"PATH=" + pathWithout(t, "wixl")}, "", "wixl is missing"},
		{"NoMsibuild", []string{"PATH=" + pathWithout(t, "msibuild")}, "", "msibuild is missing"},
		{"NoOsslsigncode", []string{"PATH=" + pathWithout(t, "osslsigncode"), "SIGN_CERT=" + cert, "SIGN_KEY=" + key}, "", "osslsigncode is missing"},
		{"CertWithoutKey", []string{"SIGN_CERT=" + cert}, "", "SIGN_KEY is not"},
		{"KeyWithoutCert", []string{"SIGN_KEY=" + key}, "", "SIGN_CERT is not"},
		{"MissingPKCS12", []string{"SIGN_PKCS12=/nonexistent/sign.pfx"}, "", "cannot read /nonexistent/sign.pfx"},
		{"BadMSIVersion", []string{"MSI_VERSION=1.2.3.4"}, "", "MSI_VERSION 1.2.3.4 is not"},
		{"NoExe", nil, filepath.Join("bin", "windows-arm64", "rollcall-agent.exe"), "windows-arm64/rollcall-agent.exe is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := windowsOut(t)
			if c.rm != "" {
				if err := os.Remove(filepath.Join(out, c.rm)); err != nil {
					t.Fatal(err)
				}
			}
			log, err := windowsBuild("./windows/build.sh", out, c.env...)
			if err == nil {
				t.Fatalf("windows/build.sh succeeded, want it to fail with %q:\n%s", c.want, log)
			}
			if !strings.Contains(log, c.want) {
				t.Errorf("windows/build.sh failed with\n%s\nwant a message with %q", log, c.want)
			}
		})
	}
}

// TestWindowsBuild_RefusesIgnoredAttribute checks that the build fails,
// rather than leaving it out, when wixl does not understand something in
// the .wxs (as it does not, for one, Property/@Secure).
func TestWindowsBuild_RefusesIgnoredAttribute(t *testing.T) {
	tool(t, "wixl")
	scripts := filepath.Join(t.TempDir(), "windows")
	if err := os.MkdirAll(scripts, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"build.sh", "rollcall-agent.wxs"} {
		b, err := os.ReadFile(filepath.Join("windows", name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "rollcall-agent.wxs" {
			const prop = `<Property Id="ARPNOMODIFY" Value="yes"/>`
			if !bytes.Contains(b, []byte(prop)) {
				t.Fatalf("rollcall-agent.wxs has no %s to change", prop)
			}
			b = bytes.Replace(b, []byte(prop), []byte(`<Property Id="ARPNOMODIFY" Value="yes" Secure="yes"/>`), 1)
		}
		if err := os.WriteFile(filepath.Join(scripts, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out, err := windowsBuild(filepath.Join(scripts, "build.sh"), windowsOut(t))
	if err == nil {
		t.Fatalf("the build succeeded with an attribute wixl ignores:\n%s", out)
	}
	if !strings.Contains(out, "wixl warned") || !strings.Contains(out, "Secure") {
		t.Errorf("the build failed without naming what wixl ignored:\n%s", out)
	}
}
