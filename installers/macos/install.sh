#!/bin/sh
# Installs the Rollcall agent on a Mac as a LaunchDaemon, or upgrades it
# in place (the enrolment in /Library/Application Support/Rollcall is
# kept). Run it as root from the folder it came in:
#
#   sudo ./install.sh --token TOKEN    # the first time: enrols at its first start
#   sudo ./install.sh                  # an upgrade, or enrol later by hand
#
# ROLLCALL_ROOT installs under another folder instead of / and leaves
# launchd alone: the tests use it on Linux.
set -eu

root=${ROLLCALL_ROOT:-}
here=$(cd "$(dirname "$0")" && pwd)
label=com.rollcall.agent
bin="$root/usr/local/bin/rollcall-agent"
data="$root/Library/Application Support/Rollcall"
plist="$root/Library/LaunchDaemons/$label.plist"
logs="$root/Library/Logs/Rollcall"

token=""
while [ $# -gt 0 ]; do
	case "$1" in
	--token) [ $# -ge 2 ] || { echo "install.sh: --token needs the enrolment token" >&2; exit 2; }; token=$2; shift 2 ;;
	-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "install.sh: unknown argument $1 (give --token TOKEN, or nothing)" >&2; exit 2 ;;
	esac
done

if [ -z "$root" ]; then
	[ "$(uname -s)" = Darwin ] || { echo "install.sh: this installs the macOS agent; use the deb or rpm on Linux" >&2; exit 1; }
	[ "$(id -u)" = 0 ] || { echo "install.sh: run it as root: sudo $0 $*" >&2; exit 1; }
fi

mkdir -p "$(dirname "$bin")" "$(dirname "$plist")" "$logs" "$data"
chmod 0700 "$data"
install -m 0755 "$here/rollcall-agent" "$bin"
install -m 0644 "$here/$label.plist" "$plist"
if [ -n "$token" ]; then
	# The agent reads it at its first start, enrols, and deletes it.
	(umask 077 && printf '%s\n' "$token" > "$data/enroll-token")
fi

if [ -z "$root" ]; then
	chown root:wheel "$bin" "$plist"
	launchctl bootout "system/$label" 2>/dev/null || true
	launchctl bootstrap system "$plist"
	launchctl enable "system/$label"
	echo "Rollcall agent $("$bin" version | cut -d' ' -f2) installed and started."
	echo "Check it with: sudo launchctl print system/$label; the log is $logs/agent.log"
else
	echo "Rollcall agent installed under $root."
fi
