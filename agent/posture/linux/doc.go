// Package linux reads a Linux device's security posture.
//
//   - Antivirus: ClamAV, the only antivirus commonly found on school Linux
//     machines. The age of its signatures comes from the header of the
//     newest database file in /var/lib/clamav; whether it protects comes
//     from the processes running (clamd, clamonacc, freshclam), read from
//     /proc. Other products are not read.
//   - Encryption: `lsblk --json`. A mounted file system is encrypted when a
//     device-mapper "crypt" device (LUKS) lies between it and the disk.
//     Swap and read-only images (squashfs, loop devices) are left out.
//   - Screen lock: GNOME's idle-delay, lock-enabled and lock-delay, read
//     with gsettings as each user with a session bus in /run/user, and the
//     machine policy in /etc/dconf/db/*.d with its locks. Other desktops
//     are not read.
//   - USB: /sys/bus/usb/devices for the devices attached now; kernel
//     uevents on a netlink socket for insertions and removals as they
//     happen; the kernel log in the systemd journal for insertions made
//     while the agent was not running, as far back as the journal keeps.
//
// Reading USB serial numbers, the journal and other users' settings needs
// root, which the agent has as a system service.
package linux
