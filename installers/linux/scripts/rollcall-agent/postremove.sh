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
# old certificate should be revoked on the server.
case "$1" in
remove | 0) ;;
purge)
	rm -rf /var/lib/rollcall-agent /etc/rollcall-agent
	;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
