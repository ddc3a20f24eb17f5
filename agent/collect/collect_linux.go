package collect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// Where Linux exposes the facts gopsutil lacks.
const (
	dmiDir   = "/sys/class/dmi/id"
	blockDir = "/sys/block"
)

// osParts are the Linux parts: SMBIOS identity from sysfs, disks, the install date and the
// logged-in user.
func osParts() []part {
	return []part{
		{"dmi", func(_ context.Context, hw *agentv1.Hardware) error { return collectDMI(dmiDir, hw) }},
		{"disks", func(_ context.Context, hw *agentv1.Hardware) error { return collectBlockDisks(blockDir, hw) }},
		{"install date", collectInstallDate},
		{"users", collectUsers},
	}
}

// refineOSVersion returns gopsutil's platform version, such as "22.04", unchanged.
func refineOSVersion(version string) string { return version }

// collectDMI fills make, model, serial and chassis type from the DMI directory root, normally
// /sys/class/dmi/id. The serial stays empty unless the agent runs as root.
func collectDMI(root string, hw *agentv1.Hardware) error {
	if _, err := os.Stat(root); err != nil {
		return fmt.Errorf("dmi: %w", err)
	}
	decodeDMI(os.DirFS(root)).fill(hw)
	return nil
}

// collectBlockDisks fills the disks from the block device directory root, normally /sys/block.
func collectBlockDisks(root string, hw *agentv1.Hardware) error {
	disks, err := decodeBlockDisks(os.DirFS(root))
	hw.Disks = disks
	return err
}

// collectInstallDate fills the OS install date. Linux records no install date, so this uses the
// birth time of the root directory "/", which is set when the installer creates the root file
// system. Where the file system keeps no birth times, it falls back to /etc/machine-id, which
// systemd writes once at first boot and never changes; its birth time, else its modification
// time, is used. On a device imaged by block copy both say when the image was made, unless the
// imaging clears /etc/machine-id for a fresh one at first boot.
func collectInstallDate(_ context.Context, hw *agentv1.Hardware) error {
	now := time.Now()
	var errs []error
	for _, c := range []struct {
		path     string
		useMtime bool
	}{{"/", false}, {"/etc/machine-id", true}} {
		var st unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, c.path, 0, unix.STATX_BTIME|unix.STATX_MTIME, &st); err != nil {
			errs = append(errs, fmt.Errorf("statx %s: %w", c.path, err))
			continue
		}
		if st.Mask&unix.STATX_BTIME != 0 {
			if t := time.Unix(st.Btime.Sec, int64(st.Btime.Nsec)); plausibleInstallDate(t, now) {
				hw.OsInstallDate = timestamppb.New(t)
				return nil
			}
		}
		if c.useMtime && st.Mask&unix.STATX_MTIME != 0 {
			if t := time.Unix(st.Mtime.Sec, int64(st.Mtime.Nsec)); plausibleInstallDate(t, now) {
				hw.OsInstallDate = timestamppb.New(t)
				return nil
			}
		}
	}
	errs = append(errs, errors.New("no plausible birth or modification time"))
	return fmt.Errorf("install date: %w", errors.Join(errs...))
}

// consoleUserPart reads the logged-in user for ConsoleUser.
var consoleUserPart = collectUsers
