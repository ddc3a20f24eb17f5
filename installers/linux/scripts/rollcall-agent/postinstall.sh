#!/bin/sh
# rollcall-agent postinstall: the deb's postinst and the rpm's %post.
# dpkg passes "configure OLD-VERSION", OLD-VERSION empty on a first
# install, or abort-* to undo a failed step; rpm passes how many versions
# are installed now: 1 on a first install, 2 on an upgrade.
#
# A first install enables the service and, when systemd is running,
# starts it; where it is not (a container, or a disk image being built in
# a chroot) the service starts at the next boot. An upgrade restarts the
# service if it is running, and never enables one a technician disabled.
unit=rollcall-agent.service

case "$1" in
configure) if [ -z "$2" ]; then first=yes; else first=no; fi ;;
1) first=yes ;;
[0-9]*) first=no ;;
*) exit 0 ;;
esac

# The token folder is root's alone, even if a technician made it, with
# the token, before installing the package (install -D makes it 0755).
if [ -d /etc/rollcall-agent ]; then
	chown root:root /etc/rollcall-agent
	chmod 0700 /etc/rollcall-agent
fi

running=no
if [ -d /run/systemd/system ]; then
	running=yes
	systemctl daemon-reload || true
fi

if [ "$first" = no ]; then
	if [ "$running" = yes ]; then
		systemctl try-restart "$unit" || echo "rollcall-agent: could not restart $unit: see journalctl -u rollcall-agent" >&2
	fi
	# Back after a deb removal (which disabled it), or disabled on purpose.
	if command -v systemctl >/dev/null 2>&1 && ! systemctl is-enabled --quiet "$unit" 2>/dev/null; then
		echo "rollcall-agent: $unit is disabled; to run the agent: systemctl enable --now $unit"
	fi
	exit 0
fi

if ! command -v systemctl >/dev/null 2>&1; then
	echo "rollcall-agent: systemd is missing, so nothing will start the agent: run"
	echo "  rollcall-agent run --data-dir /var/lib/rollcall-agent"
	echo "as root from this system's own service manager."
elif [ "$running" = yes ]; then
	systemctl enable --now "$unit" || echo "rollcall-agent: could not start $unit: see journalctl -u rollcall-agent" >&2
else
	systemctl enable "$unit" || true
	echo "rollcall-agent: systemd is not running here, so the agent starts at the next"
	echo "boot; on a running system start it with: systemctl start $unit"
fi
cat <<'MSG'
rollcall-agent is installed. To enrol this device with the school's server,
put an enrolment token (from `rollcall enroll-token create` on the server)
in /etc/rollcall-agent/enroll-token:
  echo 'rc1_...' | sudo install -m 0600 /dev/stdin /etc/rollcall-agent/enroll-token
Until it has enrolled the agent looks for the file every 30 seconds; it
enrols with the token, deletes the file and keeps its identity in
/var/lib/rollcall-agent. Logs: journalctl -u rollcall-agent
MSG
exit 0
