#!/bin/sh
# rollcall preremove: the deb's prerm and the rpm's %preun. dpkg passes
# "remove" when the package goes, or upgrade, deconfigure or
# failed-upgrade; rpm passes how many versions remain: 0 when it goes, 1
# during an upgrade. Only a removal stops and disables the service.
unit=rollcall.service

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl stop "$unit" || true
fi
if command -v systemctl >/dev/null 2>&1; then
	systemctl disable "$unit" || true
fi
exit 0
