#!/bin/sh
# rollcall postinstall: the deb's postinst and the rpm's %post.
# dpkg passes "configure OLD-VERSION", OLD-VERSION empty on a first
# install, or abort-* to undo a failed step; rpm passes how many versions
# are installed now: 1 on a first install, 2 on an upgrade.
#
# A first install enables the service and, when systemd is running,
# starts it; where it is not (a container, or an image being built) the
# service starts at the next boot. An upgrade restarts the service if it
# is running, and never enables one an administrator disabled.
#
# A reinstall after a removal is a first install again, as with rpm,
# which passes 1 to it. dpkg cannot tell it from an upgrade: the removed
# package stays in config-files state (it has a postrm and a conffile),
# so installing it again passes "configure OLD-VERSION" too. So
# preremove, when a deb removal makes it disable the service, leaves the
# marker file below, and its presence here means "back after a removal".
# An upgrade never runs preremove with "remove", so it finds none; a
# purge deletes it, and a first install after that passes an empty
# OLD-VERSION anyway. The marker goes only once the service is enabled,
# so that a postinst cut short and run again by `dpkg --configure -a`
# still finds it. "abort-remove" (a removal undone after preremove ran)
# enables the service again in the same way.
#
# ROLLCALL_PKG_ROOT goes before every path this script checks or
# changes. dpkg and rpm leave it unset, so the paths are the system's
# own; the tests set it to a temporary folder.
unit=rollcall.service
sysroot=${ROLLCALL_PKG_ROOT:-}
marker=$sysroot/var/lib/rollcall/.removed-by-package

case "$1" in
configure)
	if [ -z "$2" ]; then
		how=install
	elif [ -e "$marker" ]; then
		how=reinstall
	else
		how=upgrade
	fi
	;;
abort-remove)
	[ -e "$marker" ] || exit 0
	how=reinstall
	;;
1) how=install ;;
[0-9]*) how=upgrade ;;
*) exit 0 ;;
esac

# The data folder, which systemd also makes (StateDirectory) at each
# start: made here too, so that the commands below work before the first
# start, and where systemd is not running.
if [ ! -d "$sysroot/var/lib/rollcall" ]; then
	install -d -o rollcall -g rollcall -m 0750 "$sysroot/var/lib/rollcall"
fi

running=no
if [ -d "$sysroot/run/systemd/system" ]; then
	running=yes
	systemctl daemon-reload || true
fi

if [ "$how" = upgrade ]; then
	if [ "$running" = yes ]; then
		systemctl try-restart "$unit" || echo "rollcall: could not restart $unit: see journalctl -u rollcall" >&2
	fi
	# Disabled on purpose, or by the preremove of a version older than
	# the marker.
	if command -v systemctl >/dev/null 2>&1 && ! systemctl is-enabled --quiet "$unit" 2>/dev/null; then
		echo "rollcall: $unit is disabled; to run the server: systemctl enable --now $unit"
	fi
	exit 0
fi

if ! command -v systemctl >/dev/null 2>&1; then
	echo "rollcall: systemd is missing, so nothing will start the server: run"
	echo "  rollcall serve --data-dir /var/lib/rollcall"
	echo "as the rollcall user from this system's own service manager."
elif [ "$running" = yes ]; then
	systemctl enable --now "$unit" || echo "rollcall: could not start $unit: see journalctl -u rollcall" >&2
else
	systemctl enable "$unit" || true
	echo "rollcall: systemd is not running here, so the server starts at the next"
	echo "boot; on a running system start it with: systemctl start $unit"
fi
if [ "$how" = reinstall ]; then
	echo "The Rollcall server is installed again, with its data in /var/lib/rollcall"
	echo "and its settings in /etc/rollcall/rollcall.env as they were."
	rm -f "$marker"
	exit 0
fi
cat <<'MSG'
The Rollcall server is installed: agents connect on port 8443, the
dashboard is on http://localhost:8080/. Its settings (database, mail
relay, --advertise, --public-url) are in /etc/rollcall/rollcall.env; its
data is in /var/lib/rollcall, which belongs to the rollcall user.

Add the first technician as the rollcall user (as root, the command
would leave files in the data folder that the server cannot write):
  sudo -u rollcall rollcall user add --data-dir /var/lib/rollcall \
    --email it@school.example --name "Sam Tech" --role technician
With PostgreSQL set in rollcall.env, give the commands its database:
  sudo -u rollcall sh -c 'set -a; . /etc/rollcall/rollcall.env; exec rollcall user add --data-dir /var/lib/rollcall ...'
Logs: journalctl -u rollcall
MSG
# A marker an earlier removal left (say, before an rpm took over) is
# done with: left, it would make a later upgrade enable the service.
if [ -e "$marker" ]; then
	rm -f "$marker"
fi
exit 0
