#!/bin/sh
# rollcall postremove: the deb's postrm and the rpm's %postun. dpkg
# passes remove, purge, upgrade, disappear or abort-*; rpm passes how
# many versions remain: 0 when the package is gone, 1 after an upgrade.
#
# Even a deb purge keeps /var/lib/rollcall and the rollcall user: the
# folder holds the CA, whose loss means every laptop must enrol again, the
# vault key and the SQLite database. dpkg deletes /etc/rollcall/rollcall.env
# on purge, as it does every package's configuration files.
case "$1" in
remove | 0) ;;
purge)
	if [ -d /var/lib/rollcall ]; then
		echo "rollcall: kept /var/lib/rollcall (the CA, the vault key and any SQLite"
		echo "database) and the rollcall user; delete them yourself if you mean to."
	fi
	;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
