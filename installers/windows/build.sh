#!/usr/bin/env bash
# Builds the agent's MSIs into OUT from the executables installers/build.sh
# left in OUT/bin/windows-{amd64,arm64}/rollcall-agent.exe:
#
#   OUT/rollcall-agent-$VERSION-windows-amd64.msi
#   OUT/rollcall-agent-$VERSION-windows-arm64.msi
#
# Both come from rollcall-agent.wxs, built with wixl and finished with
# msibuild (msitools), where wixl 0.101 falls short (see fixup).
#
# Environment (installers/build.sh exports it):
#   VERSION, MSI_VERSION   the full version and the MSI's three numbers
#   SIGN_PKCS12 [SIGN_PKCS12_PASSWORD], or SIGN_CERT and SIGN_KEY (PEM):
#                          sign each executable, before it is packed, and
#                          each MSI with osslsigncode; unsigned without them
#   SIGN_TIMESTAMP_URL     an RFC 3161 timestamp server (osslsigncode -ts)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

die() {
	echo "installers/windows/build.sh: $*" >&2
	exit 1
}

[ $# -eq 1 ] || die "usage: $0 OUT"
out=$(cd "$1" && pwd) || die "no folder $1"
[ -n "${VERSION:-}" ] || die "VERSION is not set (installers/build.sh sets it from installers/version.sh)"
[ -n "${MSI_VERSION:-}" ] || die "MSI_VERSION is not set (installers/build.sh sets it from installers/version.sh --msi)"
# Windows Installer compares only three fields, at most 255.255.65535.
if ! [[ $MSI_VERSION =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] ||
	((10#${BASH_REMATCH[1]} > 255 || 10#${BASH_REMATCH[2]} > 255 || 10#${BASH_REMATCH[3]} > 65535)); then
	die "MSI_VERSION $MSI_VERSION is not an MSI ProductVersion (three numbers, at most 255.255.65535)"
fi

# need COMMAND PACKAGE: fails, naming what to install, when COMMAND is missing.
need() {
	command -v "$1" >/dev/null 2>&1 ||
		die "$1 is missing: install the $2 package (apt-get install $2), or run make deps"
}
need wixl wixl
need msibuild msitools
need msiinfo msitools

# Signing material: a PKCS#12 file, or a certificate and key in PEM.
signing=()
if [ -n "${SIGN_PKCS12:-}" ]; then
	[ -z "${SIGN_CERT:-}${SIGN_KEY:-}" ] || die "give SIGN_PKCS12, or SIGN_CERT and SIGN_KEY, not both"
	[ -r "$SIGN_PKCS12" ] || die "SIGN_PKCS12: cannot read $SIGN_PKCS12"
	signing=(-pkcs12 "$SIGN_PKCS12")
elif [ -n "${SIGN_CERT:-}" ] || [ -n "${SIGN_KEY:-}" ]; then
	[ -n "${SIGN_CERT:-}" ] || die "SIGN_KEY is set but SIGN_CERT is not: give both, in PEM"
	[ -n "${SIGN_KEY:-}" ] || die "SIGN_CERT is set but SIGN_KEY is not: give both, in PEM"
	[ -r "$SIGN_CERT" ] || die "SIGN_CERT: cannot read $SIGN_CERT"
	[ -r "$SIGN_KEY" ] || die "SIGN_KEY: cannot read $SIGN_KEY"
	signing=(-certs "$SIGN_CERT" -key "$SIGN_KEY")
fi
if [ ${#signing[@]} -gt 0 ]; then
	need osslsigncode osslsigncode
	signing+=(-h sha256 -n "Rollcall Agent")
	if [ -n "${SIGN_TIMESTAMP_URL:-}" ]; then
		signing+=(-ts "$SIGN_TIMESTAMP_URL")
	fi
	signed="signed"
else
	signed="unsigned"
	echo "  Windows: unsigned (no SIGN_PKCS12, or SIGN_CERT and SIGN_KEY, given)"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# sign FILE: signs FILE in place (Authenticode, SHA-256), replacing any
# signature it had. The PKCS#12 password goes to osslsigncode on its
# standard input, never on a command line.
sign() {
	local tmp="$work/signing" log
	rm -f "$tmp"
	if [ -n "${SIGN_PKCS12:-}" ] && [ -n "${SIGN_PKCS12_PASSWORD:-}" ]; then
		log=$(printf '%s' "$SIGN_PKCS12_PASSWORD" |
			osslsigncode sign "${signing[@]}" -readpass - -in "$1" -out "$tmp" 2>&1) ||
			die "could not sign $1: $log"
	else
		log=$(osslsigncode sign "${signing[@]}" -in "$1" -out "$tmp" 2>&1) ||
			die "could not sign $1: $log"
	fi
	cat "$tmp" >"$1" # keeps FILE's mode
}

# sql MSI QUERY: runs one SQL query on the MSI's database.
sql() {
	msibuild "$1" -q "$2" >/dev/null 2>&1 || die "msibuild $1: failed: $2"
}

# property MSI NAME: the value of NAME in the MSI's Property table (which
# msiinfo prints with CRLF line ends).
property() {
	msiinfo export "$1" Property | awk -F '\t' -v name="$2" '{ sub(/\r$/, "") } $1 == name { print $2 }'
}

# suminfo MSI FIELD: a field of the MSI's summary information.
suminfo() {
	msiinfo suminfo "$1" | sed -n "s/^$2: //p" | tr -d '\r'
}

# fixup MSI ARCH: sets in the built database what wixl 0.101 cannot take
# from the .wxs (the tests check each).
fixup() {
	local msi=$1 arch=$2 code secure subject author template
	code=$(property "$msi" UpgradeCode)
	[ -n "$code" ] || die "$msi has no UpgradeCode"

	# Write the enrolment token only when one was given.
	sql "$msi" "UPDATE \`Component\` SET \`Condition\` = 'ENROLL_TOKEN' WHERE \`Component\` = 'EnrollToken'"

	# An MSI of the same ProductVersion replaces the installed one, as
	# WiX's AllowSameVersionUpgrades does: builds after a tag share its
	# version, and the amd64 and arm64 MSIs of one build share theirs.
	sql "$msi" "INSERT INTO \`Upgrade\` (\`UpgradeCode\`, \`VersionMin\`, \`VersionMax\`, \`Attributes\`, \`ActionProperty\`)
		VALUES ('$code', '$MSI_VERSION', '$MSI_VERSION', 769, 'WIX_SAME_VERSION_UPGRADE_DETECTED')"

	# Public properties that must reach the server side of the install.
	secure=$(property "$msi" SecureCustomProperties)
	secure="ENROLL_TOKEN${secure:+;$secure};WIX_SAME_VERSION_UPGRADE_DETECTED"
	sql "$msi" "UPDATE \`Property\` SET \`Value\` = '$secure' WHERE \`Property\` = 'SecureCustomProperties'"

	# The key that holds the token: SYSTEM and Administrators only, not the
	# Users that HKLM\SOFTWARE lets read (P: not inherited).
	sql "$msi" "CREATE TABLE \`MsiLockPermissionsEx\` (\`MsiLockPermissionsEx\` CHAR(72) NOT NULL,
		\`LockObject\` CHAR(72) NOT NULL, \`Table\` CHAR(32) NOT NULL, \`SDDLText\` LONGCHAR NOT NULL,
		\`Condition\` CHAR(255) PRIMARY KEY \`MsiLockPermissionsEx\`)"
	sql "$msi" "INSERT INTO \`MsiLockPermissionsEx\` (\`MsiLockPermissionsEx\`, \`LockObject\`, \`Table\`, \`SDDLText\`)
		VALUES ('EnrollTokenKey', 'EnrollToken', 'Registry', 'D:P(A;CI;KA;;;SY)(A;CI;KA;;;BA)')"
	# The data folder likewise, owned by Administrators: anyone may create
	# folders in ProgramData, and one made by a user before the install
	# would otherwise stay theirs. The agent sets the same list itself.
	sql "$msi" "INSERT INTO \`MsiLockPermissionsEx\` (\`MsiLockPermissionsEx\`, \`LockObject\`, \`Table\`, \`SDDLText\`)
		VALUES ('DataFolder', 'DATADIR', 'CreateFolder', 'O:BAG:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)')"

	# The install fails, rather than carrying on, if the service cannot be
	# installed (msidbServiceInstallErrorControlVital, with normal: 1).
	sql "$msi" "UPDATE \`ServiceInstall\` SET \`ErrorControl\` = 32769 WHERE \`ServiceInstall\` = 'AgentService'"

	# The platform. msibuild -s sets Subject and Author with the Template,
	# so give it the ones wixl wrote.
	case $arch in
	amd64) template="x64;1033" ;;
	arm64)
		template="Arm64;1033"
		subject=$(suminfo "$msi" Subject)
		author=$(suminfo "$msi" Author)
		msibuild "$msi" -s "$subject" "$author" "$template" >/dev/null 2>&1 ||
			die "msibuild $msi: could not set the Template to $template"
		;;
	esac
	[ "$(suminfo "$msi" Template)" = "$template" ] ||
		die "$msi: Template is $(suminfo "$msi" Template), not $template"
}

for arch in amd64 arm64; do
	exe="$out/bin/windows-$arch/rollcall-agent.exe"
	msi="$out/rollcall-agent-$VERSION-windows-$arch.msi"
	rm -f "$msi"
	[ -f "$exe" ] || die "$exe is missing (installers/build.sh builds it)"
	if [ ${#signing[@]} -gt 0 ]; then
		sign "$exe"
		echo "  signed bin/windows-$arch/rollcall-agent.exe"
	fi

	# Both as x64 (64-bit components, ProgramFiles64Folder); fixup makes
	# the arm64 one Arm64. wixl 0.101 finds files only by relative paths,
	# so it runs in OUT. It warns, and carries on, when it ignores an
	# attribute: take that as a failure.
	tmp="$work/$arch.msi"
	log=$(cd "$out" && wixl --arch x64 -D Version="$VERSION" -D MsiVersion="$MSI_VERSION" \
		-D AgentExe="bin/windows-$arch/rollcall-agent.exe" -o "$tmp" "$here/rollcall-agent.wxs" 2>&1) ||
		die "wixl failed for $arch: $log"
	if grep -qE 'WARNING|CRITICAL' <<<"$log"; then
		die "wixl warned for $arch (something in rollcall-agent.wxs was not understood): $log"
	fi
	fixup "$tmp" "$arch"
	if [ ${#signing[@]} -gt 0 ]; then
		sign "$tmp"
	fi
	mv "$tmp" "$msi"
	echo "  msi $(basename "$msi") ($signed)"
done
