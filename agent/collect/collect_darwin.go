package collect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// setupDoneFile is created by Setup Assistant when the first user finishes setting up the Mac.
const setupDoneFile = "/var/db/.AppleSetupDone"

// osParts are the macOS parts: identity from system_profiler and ioreg, disks, the install date
// and the user at the console.
func osParts() []part {
	return []part{
		{"hardware", collectMacHardware},
		{"disks", collectMacDisks},
		{"install date", collectMacInstallDate},
		{"users", collectMacUser},
	}
}

// refineOSVersion returns gopsutil's version, the ProductVersion such as "14.4.1", unchanged.
func refineOSVersion(version string) string { return version }

// run runs a command with the part's deadline and returns its standard output.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// collectMacHardware fills make, model, serial and chassis type. system_profiler
// SPHardwareDataType gives the marketing name and serial; ioreg's IOPlatformExpertDevice gives
// the manufacturer (not always Apple in a virtual machine) and stands in for system_profiler
// when that fails.
func collectMacHardware(ctx context.Context, hw *agentv1.Hardware) error {
	var (
		p    platform
		errs []error
	)
	if out, err := run(ctx, "/usr/sbin/system_profiler", "SPHardwareDataType", "-json"); err != nil {
		errs = append(errs, err)
	} else if p, err = decodeSPHardware(out); err != nil {
		errs = append(errs, err)
	}
	if out, err := run(ctx, "/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice"); err != nil {
		errs = append(errs, err)
	} else {
		io := decodeIOReg(string(out))
		p.make = io.make
		p.model = firstClean(p.model, io.model)
		p.serial = firstClean(p.serial, io.serial)
		if p.chassis == "" {
			p.chassis = macChassis("", io.model)
		}
	}
	p.fill(hw)
	return errors.Join(errs...)
}

// collectMacDisks fills the internal NVMe and SATA disks from system_profiler.
func collectMacDisks(ctx context.Context, hw *agentv1.Hardware) error {
	out, err := run(ctx, "/usr/sbin/system_profiler", "SPNVMeDataType", "SPSerialATADataType", "-json")
	if err != nil {
		return err
	}
	hw.Disks, err = decodeSPStorage(out)
	return err
}

// collectMacInstallDate fills the OS install date with the birth time of /var/db/.AppleSetupDone,
// written when Setup Assistant finished after the Mac was set up or erased and reinstalled.
// macOS updates leave it alone.
func collectMacInstallDate(_ context.Context, hw *agentv1.Hardware) error {
	fi, err := os.Stat(setupDoneFile)
	if err != nil {
		return fmt.Errorf("install date: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("install date: no stat data")
	}
	t := time.Unix(st.Birthtimespec.Unix())
	if !plausibleInstallDate(t, time.Now()) {
		return fmt.Errorf("install date: implausible birth time %s", t)
	}
	hw.OsInstallDate = timestamppb.New(t)
	return nil
}

// collectMacUser fills the logged-in user with the owner of /dev/console, the user at the
// screen; at the login window the owner is root, and the sessions in utmpx are used instead.
func collectMacUser(ctx context.Context, hw *agentv1.Hardware) error {
	fi, err := os.Stat("/dev/console")
	if err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
			if u, err := user.LookupId(strconv.FormatUint(uint64(st.Uid), 10)); err == nil {
				hw.LoggedInUser = u.Username
				return nil
			}
		}
	}
	return collectUsers(ctx, hw)
}

// consoleUserPart reads the logged-in user for ConsoleUser.
var consoleUserPart = collectMacUser
