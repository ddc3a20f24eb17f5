#!/usr/bin/env bash
# Builds every installer into OUT (default dist/): the binaries for each
# platform, stamped with installers/version.sh, then the Windows MSIs,
# the Linux deb and rpm packages and the macOS archive. `make installers`
# runs it; the tests in this folder run it into a temporary folder.
#
# Signing (optional): give a PKCS#12 file in SIGN_PKCS12 (its password in
# SIGN_PKCS12_PASSWORD), or a certificate and key in PEM in SIGN_CERT and
# SIGN_KEY, and the Windows executables and MSIs are signed with
# osslsigncode. Without them they are built unsigned, and this says so.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-$root/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
export VERSION=${VERSION:-$("$here/version.sh")}
export MSI_VERSION=${MSI_VERSION:-$("$here/version.sh" --msi)}
export GO=${GO:-go}

echo "Rollcall $VERSION: building installers into $out"

# build GOOS GOARCH PACKAGE NAME: one stamped, static binary.
build() {
	local dir="$out/bin/$1-$2"
	mkdir -p "$dir"
	echo "  build $4 for $1/$2"
	(cd "$root" && GOOS=$1 GOARCH=$2 CGO_ENABLED=0 $GO build -trimpath \
		-ldflags "-s -w -X main.version=$VERSION" -o "$dir/$4" "./$3")
}
build windows amd64 agent/cmd/rollcall-agent rollcall-agent.exe
build windows arm64 agent/cmd/rollcall-agent rollcall-agent.exe
build linux amd64 agent/cmd/rollcall-agent rollcall-agent
build linux arm64 agent/cmd/rollcall-agent rollcall-agent
build linux amd64 server/cmd/rollcall rollcall
build linux arm64 server/cmd/rollcall rollcall
build darwin amd64 agent/cmd/rollcall-agent rollcall-agent
build darwin arm64 agent/cmd/rollcall-agent rollcall-agent

"$here/windows/build.sh" "$out"
"$here/linux/build.sh" "$out"
"$here/macos/build.sh" "$out"

echo "Done:"
(cd "$out" && ls -1 *.msi *.deb *.rpm *.tar.gz 2>/dev/null | sed 's/^/  /')
