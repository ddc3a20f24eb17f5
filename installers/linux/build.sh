#!/usr/bin/env bash
# Builds the Linux packages into OUT: rollcall-agent and rollcall (the
# server), each as a deb and an rpm for amd64 and arm64, named as nfpm
# names them (rollcall-agent_1.4.0+3.gabc1234_amd64.deb,
# rollcall-agent-1.4.0+3.gabc1234-1.x86_64.rpm, ...). nfpm reads the
# packages' contents from rollcall-agent.yaml and rollcall.yaml here.
#
# installers/build.sh runs it after building the static binaries into
# OUT/bin/linux-ARCH/, with VERSION exported. MAINTAINER, if set, replaces
# the packages' maintainer ("Name <email>").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: installers/linux/build.sh OUT}
out=$(cd "$out" && pwd)
: "${VERSION:?VERSION is not set: installers/build.sh sets it from installers/version.sh}"
case "$VERSION" in
[0-9]*) ;;
*)
	echo "linux/build.sh: VERSION \"$VERSION\" does not start with a digit, as deb and rpm versions must (see installers/version.sh)" >&2
	exit 1
	;;
esac
export VERSION
export MAINTAINER=${MAINTAINER:-Rollcall maintainers <maintainers@rollcall.invalid>}

if ! command -v nfpm >/dev/null 2>&1; then
	echo "linux/build.sh: nfpm is missing: run \`make tools\` (it installs nfpm into .tools/)" >&2
	exit 1
fi

cd "$here" # the YAML files name the units and scripts relative to here
for arch in amd64 arm64; do
	bin="$out/bin/linux-$arch"
	for f in rollcall-agent rollcall; do
		if [ ! -x "$bin/$f" ]; then
			echo "linux/build.sh: $bin/$f is missing: installers/build.sh builds it" >&2
			exit 1
		fi
	done
	for pkg in rollcall-agent rollcall; do
		for packager in deb rpm; do
			echo "  package $pkg $packager for linux/$arch"
			ARCH=$arch BIN=$bin nfpm package --config "$pkg.yaml" --packager "$packager" --target "$out/" >/dev/null
		done
	done
done
