#!/bin/sh
# rollcall-agent postremove: the deb's postrm and the rpm's %postun.
# dpkg passes remove, purge, upgrade, disappear or abort-*; rpm passes how
# many versions remain: 0 when the package is gone, 1 after an upgrade.
#
# The enrolment (the device's key and certificate in
# /var/lib/rollcall-agent) outlives a removal, so reinstalling the package
# needs no new token; rpm has no purge, so an rpm erase keeps it too. A
# deb purge, which asks for everything to go, deletes it and any unused
# token in /etc/rollcall-agent: the device must then enrol again, and its
# old certificate should be revoked on the server. The purge deletes
# preremove's marker with the folder.
#
# ROLLCALL_PKG_ROOT goes before every path this script checks or
# changes; dpkg and rpm leave it unset. The tests set it.
sysroot=${ROLLCALL_PKG_ROOT:-}

case "$1" in
remove | 0) ;;
purge)
	rm -rf "$sysroot/var/lib/rollcall-agent" "$sysroot/etc/rollcall-agent"
	;;
*) exit 0 ;;
esac

if [ -d "$sysroot/run/systemd/system" ]; then
	systemctl daemon-reload || true
fi
exit 0
