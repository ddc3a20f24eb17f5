#!/bin/sh
# Removes the Rollcall agent from a Mac. Its enrolment and queued reports
# in /Library/Application Support/Rollcall are kept, so installing again
# carries on as the same device, unless --purge is given.
#
#   sudo ./uninstall.sh [--purge]
#
# ROLLCALL_ROOT works as for install.sh.
set -eu

root=${ROLLCALL_ROOT:-}
label=com.rollcall.agent
purge=no
case "${1:-}" in
"") ;;
--purge) purge=yes ;;
*) echo "uninstall.sh: unknown argument $1 (give --purge, or nothing)" >&2; exit 2 ;;
esac
if [ -z "$root" ]; then
	[ "$(id -u)" = 0 ] || { echo "uninstall.sh: run it as root: sudo $0 $*" >&2; exit 1; }
	launchctl bootout "system/$label" 2>/dev/null || true
fi
rm -f "$root/Library/LaunchDaemons/$label.plist" "$root/usr/local/bin/rollcall-agent"
if [ "$purge" = yes ]; then
	rm -rf "$root/Library/Application Support/Rollcall" "$root/Library/Logs/Rollcall"
	echo "Rollcall agent removed, with its enrolment and logs."
else
	echo "Rollcall agent removed. Its enrolment is kept in /Library/Application Support/Rollcall (give --purge to delete it)."
fi
