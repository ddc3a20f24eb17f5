package loadgen

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sys/unix"

	"github.com/rollcall/rollcall/inventory/postgres/pgtest"
	"github.com/rollcall/rollcall/server/admin"
	"github.com/rollcall/rollcall/server/app"
	"github.com/rollcall/rollcall/server/pki"
)

// envAgentIdle is how long BenchmarkAgent lets the agent run idle
// (default 10m).
const envAgentIdle = "ROLLCALL_BENCH_AGENT_IDLE"

// usbSamples is how many USB insertions BenchmarkAgent times.
const usbSamples = 5

// BenchmarkAgent builds the agent as it ships, enrols it with a Rollcall
// server on PostgreSQL, and lets it run for $ROLLCALL_BENCH_AGENT_IDLE
// with its collectors on their own schedule, reporting its binary's size
// (for Linux and for Windows), its resident memory (the peak and the last
// sample) and the CPU time it used, per hour of idle running. Then it
// announces USB insertions as the kernel does, on the uevent socket, and
// reports how long each took to be stored by the server. Announcing
// needs root; without it that figure is left out, and the log says why.
func BenchmarkAgent(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Fatalf("BenchmarkAgent reads /proc and the kernel's uevent socket: run it on Linux, not %s", runtime.GOOS)
	}
	idle := 10 * time.Minute
	if s := os.Getenv(envAgentIdle); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 10*time.Second {
			b.Fatalf("%s=%q: give a duration of at least 10s", envAgentIdle, s)
		}
		idle = d
	}
	ctx := context.Background()
	dsn := pgtest.DSN(b)
	dir := b.TempDir()
	srv := startHelper(b, "serve", dir, dsn)

	bin := buildAgent(b, "linux", runtime.GOARCH)
	winBin := buildAgent(b, "windows", "amd64")
	for _, p := range []struct{ name, path string }{{"binary-linux-MB", bin}, {"binary-windows-MB", winBin}} {
		st, err := os.Stat(p.path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Size())/(1<<20), p.name)
	}

	agentDir := b.TempDir()
	token := enrolToken(ctx, b, dir, dsn, srv.AgentAddr)
	if out, err := exec.Command(bin, "enroll", "--token", token, "--data-dir", agentDir).CombinedOutput(); err != nil {
		b.Fatalf("rollcall-agent enroll: %v: %s", err, out)
	}

	run := exec.Command(bin, "run", "--data-dir", agentDir)
	logFile, err := os.Create(filepath.Join(b.TempDir(), "agent.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	run.Stdout, run.Stderr = logFile, logFile
	if err := run.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = run.Process.Signal(syscall.SIGTERM)
		_ = run.Wait()
	}()
	pid := run.Process.Pid

	b.Logf("agent %d running idle for %s", pid, idle)
	var last, peak int64
	end := time.Now().Add(idle)
	for time.Now().Before(end) {
		time.Sleep(min(5*time.Second, time.Until(end)))
		cur, hwm, err := rss(pid)
		if err != nil {
			b.Fatalf("agent: %v (see %s)", err, logFile.Name())
		}
		last, peak = cur, max(peak, hwm)
	}
	cpu, err := cpuTime(pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(peak)/(1<<20), "rss-peak-MB")
	b.ReportMetric(float64(last)/(1<<20), "rss-MB")
	b.ReportMetric(cpu.Seconds()*float64(time.Hour)/float64(idle), "cpu-s/h")
	b.Logf("agent used %s of CPU in %s; resident %d KiB, peak %d KiB", cpu, idle, last>>10, peak>>10)

	if lat, err := usbLatencies(ctx, dsn); err != nil {
		b.Logf("USB event latency not measured: %v", err)
	} else {
		slices.Sort(lat)
		b.ReportMetric(ms64(lat[len(lat)/2]), "usb-p50-ms")
		b.ReportMetric(ms64(lat[len(lat)-1]), "usb-max-ms")
		b.Logf("USB insertion to server: %v", lat)
	}
}

// buildAgent builds the agent for goos/goarch as `make build` does and
// returns the binary's path.
func buildAgent(b *testing.B, goos, goarch string) string {
	out := filepath.Join(b.TempDir(), "rollcall-agent")
	if goos == "windows" {
		out += ".exe"
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "github.com/rollcall/rollcall/agent/cmd/rollcall-agent")
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build the agent for %s/%s: %v: %s", goos, goarch, err, msg)
	}
	return out
}

// enrolToken makes a one-use enrolment token for the server on dir.
func enrolToken(ctx context.Context, b *testing.B, dir, dsn, addr string) string {
	ca, err := pki.LoadCA(dir)
	if err != nil {
		b.Fatal(err)
	}
	s, err := app.OpenStore(ctx, dir, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tok, err := admin.CreateEnrollToken(ctx, s, ca, admin.EnrollTokenRequest{Uses: 1, TTL: time.Hour, Advertise: addr, Now: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// usbLatencies announces usbSamples insertions of USB sticks on the
// kernel's uevent socket, one every 2 seconds, and returns how long each
// took from its announcement to being stored by the server. The agent
// reads a device's details after the kernel has settled (300 ms); a stick
// that is not really there is described by the IDs in its announcement.
func usbLatencies(ctx context.Context, dsn string) ([]time.Duration, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, fmt.Errorf("open the uevent socket: %w", err)
	}
	defer unix.Close(fd)
	db, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var lat []time.Duration
	for i := range usbSamples {
		product := fmt.Sprintf("%04x", 0x5a00+i)
		devpath := fmt.Sprintf("/devices/pci0000:00/0000:00:14.0/usb1/1-%d", 9+i)
		msg := fmt.Sprintf("add@%s\x00ACTION=add\x00DEVPATH=%s\x00SUBSYSTEM=usb\x00DEVTYPE=usb_device\x00PRODUCT=781/%s/100\x00TYPE=0/0/0\x00BUSNUM=001\x00DEVNUM=%03d\x00SEQNUM=%d\x00",
			devpath, devpath, product, 9+i, 900000+i)
		sent := time.Now()
		if err := unix.Sendto(fd, []byte(msg), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
			return nil, fmt.Errorf("announce a USB insertion (sending kernel uevents needs root): %w", err)
		}
		stored, err := waitStored(ctx, db, product, sent.Add(30*time.Second))
		if err != nil {
			return nil, err
		}
		lat = append(lat, stored.Sub(sent))
		time.Sleep(2 * time.Second)
	}
	return lat, nil
}

// waitStored polls for the usb.inserted event of product and returns when
// the server stored it.
func waitStored(ctx context.Context, db *pgxpool.Pool, product string, deadline time.Time) (time.Time, error) {
	for time.Now().Before(deadline) {
		var at time.Time
		err := db.QueryRow(ctx, `SELECT received_at FROM events WHERE type = 'usb.inserted' AND payload::text LIKE '%' || $1 || '%'`, product).Scan(&at)
		if err == nil {
			return at, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("the insertion of USB product %s was not stored within 30 seconds", product)
}
