#!/bin/sh
# rollcall-agent preremove: the deb's prerm and the rpm's %preun.
# dpkg passes "remove" when the package goes, or upgrade, deconfigure or
# failed-upgrade; rpm passes how many versions remain: 0 when it goes, 1
# during an upgrade. Only a removal stops and disables the service.
#
# A deb removal also leaves /var/lib/rollcall-agent/.removed-by-package,
# by which postinstall tells a reinstall (enable the service again) from
# an upgrade (leave it as the technician set it): see postinstall. rpm
# needs none, as it passes 1 to a reinstall's postinstall.
#
# ROLLCALL_PKG_ROOT goes before every path this script checks or
# changes; dpkg and rpm leave it unset. The tests set it.
unit=rollcall-agent.service
sysroot=${ROLLCALL_PKG_ROOT:-}
state=$sysroot/var/lib/rollcall-agent

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

if [ -d "$sysroot/run/systemd/system" ]; then
	systemctl stop "$unit" || true
fi
if command -v systemctl >/dev/null 2>&1; then
	systemctl disable "$unit" || true
fi
if [ "$1" = remove ]; then
	# The service's StateDirectory, 0700, when it never ran.
	if [ ! -d "$state" ]; then
		mkdir -p -m 0700 "$state"
	fi
	echo "A deb removal disabled $unit; reinstalling the package enables it again and deletes this file." >"$state/.removed-by-package" ||
		echo "rollcall-agent: a reinstall will leave $unit disabled: systemctl enable --now $unit enables it" >&2
fi
exit 0
