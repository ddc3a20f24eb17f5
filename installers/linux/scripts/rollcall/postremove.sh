#!/bin/sh
# rollcall postremove: the deb's postrm and the rpm's %postun. dpkg
# passes remove, purge, upgrade, disappear or abort-*; rpm passes how
# many versions remain: 0 when the package is gone, 1 after an upgrade.
#
# Even a deb purge keeps /var/lib/rollcall and the rollcall user: the
# folder holds the CA, whose loss means every laptop must enrol again, the
# vault key and the SQLite database. dpkg deletes /etc/rollcall/rollcall.env
# on purge, as it does every package's configuration files. The purge
# deletes only preremove's marker (see postinstall) from the folder.
#
# ROLLCALL_PKG_ROOT goes before every path this script checks or
# changes; dpkg and rpm leave it unset. The tests set it.
sysroot=${ROLLCALL_PKG_ROOT:-}

case "$1" in
remove | 0) ;;
purge)
	if [ -e "$sysroot/var/lib/rollcall/.removed-by-package" ]; then
		rm -f "$sysroot/var/lib/rollcall/.removed-by-package"
	fi
	if [ -d "$sysroot/var/lib/rollcall" ]; then
		echo "rollcall: kept /var/lib/rollcall (the CA, the vault key and any SQLite"
		echo "database) and the rollcall user; delete them yourself if you mean to."
	fi
	;;
*) exit 0 ;;
esac

if [ -d "$sysroot/run/systemd/system" ]; then
	systemctl daemon-reload || true
fi
exit 0
