// Package mac reads a Mac's security posture. It runs macOS's own tools and reads its files;
// it needs no cgo.
//
//   - Antivirus: XProtect, macOS's built-in malware scanner. Its definitions version is
//     CFBundleShortVersionString in the Info.plist of its bundle, the first found of
//     /var/protected/xprotect (macOS 15 and later), /Library/Apple/System/Library/CoreServices
//     (macOS 11 to 14) and /System/Library/CoreServices; their age is that file's modification
//     time. XProtect cannot be turned off, so it is reported enabled whenever its bundle is
//     present; whether its definitions are current is left to the server to judge from their
//     age, as macOS says nothing of it. Gatekeeper's state comes from `spctl --status`.
//     Third-party antivirus products are not read: macOS has no registry of them like
//     Windows's Security Center.
//   - Encryption: `fdesetup status` for FileVault on the startup volume, named from
//     `diskutil info -plist /`. Other volumes (external disks, the data volumes of other
//     systems) are not read.
//   - Screen lock: for the user who owns /dev/console, `sysadminctl -screenLock status`
//     (whether and after what delay a password is asked for) and `defaults -currentHost read
//     com.apple.screensaver idleTime` (when the screen saver starts), both run in the user's
//     session with `launchctl asuser`; the display and system sleep timers from `pmset -g`;
//     and idleTime, askForPassword and askForPasswordDelay set by configuration profiles, from
//     /Library/Managed Preferences, which win over the user's settings. With nobody signed in
//     at the screen there is nothing to read.
//   - USB: `system_profiler SPUSBDataType -json` (SPUSBHostDataType on macOS 26 and later,
//     where SPUSBDataType is gone) lists the devices attached; ioreg adds their class and
//     interfaces, and stands in when system_profiler lists nothing. Insertions and removals
//     are found by reading the IOUSB plane with ioreg every two seconds: IOKit notifications
//     would need cgo. macOS keeps no history of USB devices, so [USBHistory] can only report
//     the devices attached when the agent starts.
//
// The agent runs as root (a LaunchDaemon): running commands in another user's session needs
// it, and /var/protected and the managed preferences may be readable by root alone.
//
// Every reader returns its message, never nil; a concern that cannot be read carries only the
// reason, such as "command absent: fdesetup", "timed out: sysadminctl",
// "no permission: run as root" or "no console user". The decoding of each tool's output is in
// decode.go, without build tags, and is tested on every OS against recorded outputs in
// testdata/.
package mac
