#!/bin/sh
# rollcall preremove: the deb's prerm and the rpm's %preun. dpkg passes
# "remove" when the package goes, or upgrade, deconfigure or
# failed-upgrade; rpm passes how many versions remain: 0 when it goes, 1
# during an upgrade. Only a removal stops and disables the service.
#
# A deb removal also leaves /var/lib/rollcall/.removed-by-package, by
# which postinstall tells a reinstall (enable the service again) from an
# upgrade (leave it as the administrator set it): see postinstall. rpm
# needs none, as it passes 1 to a reinstall's postinstall.
#
# ROLLCALL_PKG_ROOT goes before every path this script checks or
# changes; dpkg and rpm leave it unset. The tests set it.
unit=rollcall.service
sysroot=${ROLLCALL_PKG_ROOT:-}
state=$sysroot/var/lib/rollcall

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
	# The data folder, as postinstall makes it, if an administrator
	# deleted it.
	if [ ! -d "$state" ]; then
		install -d -o rollcall -g rollcall -m 0750 "$state"
	fi
	echo "A deb removal disabled $unit; reinstalling the package enables it again and deletes this file." >"$state/.removed-by-package" ||
		echo "rollcall: a reinstall will leave $unit disabled: systemctl enable --now $unit enables it" >&2
fi
exit 0
