#!/bin/sh
# Installs the Rollcall agent on a Mac as a LaunchDaemon, or upgrades it
# in place (the enrolment in /Library/Application Support/Rollcall is
# kept). Run it as root from the folder it came in:
#
#   sudo ./install.sh --token-file token.txt   # the first time: enrols at its first start
#   pbpaste | sudo ./install.sh --token-file - # the token from the clipboard, on stdin
#   sudo ./install.sh                          # an upgrade, or enrol later by hand
#
# The token is read from a file or stdin, never from the command line,
# where other users could see it in ps and sudo's log.
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

token_file=""
while [ $# -gt 0 ]; do
	case "$1" in
	--token-file) [ $# -ge 2 ] || { echo "install.sh: --token-file needs a file holding the enrolment token, or - for stdin" >&2; exit 2; }; token_file=$2; shift 2 ;;
	--token) echo "install.sh: give the token in a file or on stdin (--token-file FILE, or --token-file -), not on the command line" >&2; exit 2 ;;
	-h|--help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "install.sh: unknown argument $1 (give --token-file FILE, --token-file -, or nothing)" >&2; exit 2 ;;
	esac
done
token=""
if [ -n "$token_file" ]; then
	if [ "$token_file" = - ]; then
		token=$(cat)
	else
		[ -r "$token_file" ] || { echo "install.sh: cannot read the token file $token_file" >&2; exit 2; }
		token=$(cat "$token_file")
	fi
	token=$(printf '%s' "$token" | tr -d ' \t\r\n')
	[ -n "$token" ] || { echo "install.sh: the token file $token_file is empty" >&2; exit 2; }
fi

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
	# Enabled first: bootstrap refuses a label that was ever disabled.
	launchctl enable "system/$label"
	launchctl bootstrap system "$plist"
	echo "Rollcall agent $("$bin" version | cut -d' ' -f2) installed and started."
	echo "Check it with: sudo launchctl print system/$label; the log is $logs/agent.log"
else
	echo "Rollcall agent installed under $root."
fi
