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
unit=rollcall.service

case "$1" in
configure) if [ -z "$2" ]; then first=yes; else first=no; fi ;;
1) first=yes ;;
[0-9]*) first=no ;;
*) exit 0 ;;
esac

# The data folder, which systemd also makes (StateDirectory) at each
# start: made here too, so that the commands below work before the first
# start, and where systemd is not running.
if [ ! -d /var/lib/rollcall ]; then
	install -d -o rollcall -g rollcall -m 0750 /var/lib/rollcall
fi

running=no
if [ -d /run/systemd/system ]; then
	running=yes
	systemctl daemon-reload || true
fi

if [ "$first" = no ]; then
	if [ "$running" = yes ]; then
		systemctl try-restart "$unit" || echo "rollcall: could not restart $unit: see journalctl -u rollcall" >&2
	fi
	# Back after a deb removal (which disabled it), or disabled on purpose.
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
exit 0
