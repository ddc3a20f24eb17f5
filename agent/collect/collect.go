// Package collect gathers a device's hardware inventory and security posture into an
// [agentv1.Report].
//
// The facts common to every OS come from gopsutil. Make, model, serial number, chassis type,
// disks and the OS install date come from each OS's own source in a build-tagged file:
// sysfs on Linux, WMI and the registry on Windows, ioreg and system_profiler on macOS. The
// decoding of those sources lives in decode.go, without build tags, so that it is tested on
// every OS against recorded outputs in testdata/.
package collect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/mem"
	"github.com/shirou/gopsutil/v3/net"
	"google.golang.org/protobuf/proto"

	"github.com/rollcall/rollcall/agent/posture"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// partTimeout bounds each part of the collection, so that a hung WMI query or command costs at
// most this long.
const partTimeout = 5 * time.Second

// Collect gathers the device's hardware inventory and posture. It never fails as a whole: each part
// that cannot be read is left empty, and every posture concern the agent cannot read says why in
// its unknown_reason (see package posture).
//
// The parts run concurrently, each under its own timeout and with panics recovered, so Collect
// returns within about ten seconds even when a part hangs; a part that times out keeps running
// in the background, but its result is discarded.
func Collect(ctx context.Context, agentVersion string) *agentv1.Report {
	var (
		hw *agentv1.Hardware
		p  *agentv1.Posture
		wg sync.WaitGroup
	)
	wg.Go(func() { hw, _ = collectHardware(ctx, append(commonParts(), osParts()...), partTimeout) })
	wg.Go(func() { p = posture.Collect(ctx) })
	wg.Wait()
	hw.AgentVersion = agentVersion
	return &agentv1.Report{Hardware: hw, Posture: p}
}

// Hash returns the hex SHA-256 of the deterministic protobuf encoding of r, the report hash the
// agent API exchanges. Equal reports have equal hashes within one build of the agent. Hash
// returns "" only if r cannot be encoded, which cannot happen to a Report: it has no required
// fields, and the API does not validate UTF-8.
func Hash(r *agentv1.Report) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// A part collects some fields of the hardware inventory into hw, which belongs to it alone. It
// should fill what it can and return an error describing what it could not read.
type part struct {
	name string
	fn   func(ctx context.Context, hw *agentv1.Hardware) error
}

// commonParts are the parts gopsutil provides on every OS.
func commonParts() []part {
	return []part{
		{"host", collectHost},
		{"cpu", collectCPU},
		{"memory", collectMemory},
		{"network", collectNetwork},
	}
}

// collectHardware runs parts concurrently, each under timeout, and merges what they filled in,
// in the order of parts, so a later part's non-empty field wins over an earlier one's. A part
// that panics or times out contributes nothing; one that returns an error contributes what it
// filled. The errors are returned, prefixed by part name, for tests.
func collectHardware(ctx context.Context, parts []part, timeout time.Duration) (*agentv1.Hardware, []error) {
	results := make([]*agentv1.Hardware, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Go(func() {
			results[i], errs[i] = runPart(ctx, p, timeout)
		})
	}
	wg.Wait()

	hw := &agentv1.Hardware{}
	var failed []error
	for i, p := range parts {
		if results[i] != nil {
			proto.Merge(hw, results[i])
		}
		if errs[i] != nil {
			failed = append(failed, fmt.Errorf("%s: %w", p.name, errs[i]))
		}
	}
	return hw, failed
}

// runPart runs p under timeout with panics recovered. It returns as soon as the timeout passes
// even if p does not; p then finishes in the background, writing only to its own Hardware.
func runPart(ctx context.Context, p part, timeout time.Duration) (*agentv1.Hardware, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		hw  *agentv1.Hardware
		err error
	}
	done := make(chan result, 1) // buffered: a part that finishes late must not block forever
	go func() {
		hw := &agentv1.Hardware{}
		defer func() {
			if v := recover(); v != nil {
				done <- result{nil, fmt.Errorf("panic: %v\n%s", v, debug.Stack())}
			}
		}()
		err := p.fn(ctx, hw)
		done <- result{hw, err}
	}()
	select {
	case r := <-done:
		return r.hw, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("gave up: %w", ctx.Err())
	}
}

// collectHost fills the hostname, OS and kernel.
func collectHost(ctx context.Context, hw *agentv1.Hardware) error {
	info, err := host.InfoWithContext(ctx)
	if info == nil {
		return fmt.Errorf("host info: %w", err)
	}
	hw.Hostname = info.Hostname
	hw.OsName = osName(info.OS, info.Platform)
	hw.OsVersion = refineOSVersion(info.PlatformVersion)
	hw.KernelVersion = info.KernelVersion
	hw.Arch = info.KernelArch
	if err != nil {
		// gopsutil returns the fields it could read along with warnings about the others.
		return fmt.Errorf("host info: %w", err)
	}
	return nil
}

// collectCPU fills the CPU model and the number of logical CPUs.
func collectCPU(ctx context.Context, hw *agentv1.Hardware) error {
	var errs []error
	infos, err := cpu.InfoWithContext(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("cpu info: %w", err))
	}
	for _, c := range infos {
		if m := clean(c.ModelName); m != "" {
			hw.CpuModel = m
			break
		}
	}
	n, err := cpu.CountsWithContext(ctx, true)
	if err != nil {
		errs = append(errs, fmt.Errorf("cpu count: %w", err))
	}
	hw.CpuCores = int32(n)
	return errors.Join(errs...)
}

// collectMemory fills the total memory.
func collectMemory(ctx context.Context, hw *agentv1.Hardware) error {
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return fmt.Errorf("virtual memory: %w", err)
	}
	hw.MemoryBytes = vm.Total
	return nil
}

// collectNetwork fills the MAC addresses.
func collectNetwork(ctx context.Context, hw *agentv1.Hardware) error {
	ifaces, err := net.InterfacesWithContext(ctx)
	if err != nil {
		return fmt.Errorf("network interfaces: %w", err)
	}
	hw.MacAddresses = macAddresses(ifaces)
	return nil
}

// collectUsers fills the logged-in user from the sessions gopsutil lists (utmp on Linux, utmpx
// on macOS). gopsutil cannot list sessions on Windows.
func collectUsers(ctx context.Context, hw *agentv1.Hardware) error {
	users, err := host.UsersWithContext(ctx)
	hw.LoggedInUser = pickUser(users)
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	return nil
}

// ConsoleUser returns the user signed in at the device, or "" when nobody
// is or it cannot be told. It reads only what the logged-in user part of
// Collect reads, so it is cheap enough to call for each USB event.
func ConsoleUser(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, partTimeout)
	defer cancel()
	hw, _ := runPart(ctx, part{"users", consoleUserPart}, partTimeout)
	return hw.GetLoggedInUser()
}
