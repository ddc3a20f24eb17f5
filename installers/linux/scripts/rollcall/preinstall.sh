#!/bin/sh
# rollcall preinstall: the deb's preinst and the rpm's %pre. dpkg passes
# "install" or "upgrade OLD-VERSION" (or abort-upgrade); rpm passes 1 or 2.
#
# Makes the system group and user the server runs as, when they are
# missing, before the files are unpacked, so that rollcall.env can belong
# to the group. useradd and groupadd are in every Debian, Ubuntu and RHEL
# family system (the passwd and shadow-utils packages).
set -e

case "$1" in
install | upgrade | [0-9]*) ;;
*) exit 0 ;;
esac

if ! getent group rollcall >/dev/null; then
	groupadd --system rollcall
fi
if ! getent passwd rollcall >/dev/null; then
	useradd --system --gid rollcall --home-dir /var/lib/rollcall --no-create-home \
		--shell /usr/sbin/nologin --comment "Rollcall server" rollcall
fi
exit 0
