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
#
# A reinstall after a removal is a first install again, as with rpm,
# which passes 1 to it. dpkg cannot tell it from an upgrade: the removed
# package stays in config-files state (it has a postrm), so installing it
# again passes "configure OLD-VERSION" too. So preremove, when a deb
# removal makes it disable the service, leaves the marker file below, and
# its presence here means "back after a removal". An upgrade never runs
# preremove with "remove", so it finds none; a purge deletes it (with
# /var/lib/rollcall-agent), and a first install after that passes an
# empty OLD-VERSION anyway. The marker goes only once the service is
# enabled, so that a postinst cut short and run again by
# `dpkg --configure -a` still finds it. "abort-remove" (a removal undone
# after preremove ran) enables the service again in the same way.
#
# ROLLCALL_PKG_ROOT goes before every path this script checks or
# changes. dpkg and rpm leave it unset, so the paths are the system's
# own; the tests set it to a temporary folder.
unit=rollcall-agent.service
sysroot=${ROLLCALL_PKG_ROOT:-}
marker=$sysroot/var/lib/rollcall-agent/.removed-by-package

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

# The token folder is root's alone, even if a technician made it, with
# the token, before installing the package (install -D makes it 0755).
if [ -d "$sysroot/etc/rollcall-agent" ]; then
	chown root:root "$sysroot/etc/rollcall-agent"
	chmod 0700 "$sysroot/etc/rollcall-agent"
fi

running=no
if [ -d "$sysroot/run/systemd/system" ]; then
	running=yes
	systemctl daemon-reload || true
fi

if [ "$how" = upgrade ]; then
	if [ "$running" = yes ]; then
		systemctl try-restart "$unit" || echo "rollcall-agent: could not restart $unit: see journalctl -u rollcall-agent" >&2
	fi
	# Disabled on purpose, or by the preremove of a version older than
	# the marker.
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
if [ "$how" = reinstall ]; then
	echo "rollcall-agent is installed again; it keeps any enrolment in /var/lib/rollcall-agent."
	rm -f "$marker"
	exit 0
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
# A marker an earlier removal left (say, before an rpm took over) is
# done with: left, it would make a later upgrade enable the service.
if [ -e "$marker" ]; then
	rm -f "$marker"
fi
exit 0
