#!/usr/bin/env bash
# Prints Rollcall's version, the one place every binary and package takes
# it from: `git describe` of the newest v* tag ("v1.2.0" gives 1.2.0, and
# 3 commits later 1.2.0+3.gabc1234), or before any tag 0.0.N+gHASH with N
# the number of commits. ".dirty" marks a work tree with changes; a dirty
# tree on a tag is 1.2.0+0.gHASH.dirty, which sorts after 1.2.0 and
# before the next commit's 1.2.0+1.g…, for dpkg and rpm alike.
#
#   installers/version.sh         the version, e.g. 0.0.412+g737a690
#   installers/version.sh --msi   the MSI's ProductVersion, three numbers
#                                 that grow with every commit: 1.2.3 for a
#                                 tag (v1.2 gives 1.2.0), 0.0.N before any
#
# It needs the whole history: a shallow clone cannot count commits, so it
# stops and says so, rather than give a version that sorts too low.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
"" | --msi) ;;
*) echo "usage: $0 [--msi]" >&2; exit 2 ;;
esac
if ! git rev-parse --git-dir >/dev/null 2>&1; then
	echo "version.sh: not a git checkout, so there is no version to take: set VERSION (and MSI_VERSION)" >&2
	exit 1
fi
if [ "$(git rev-parse --is-shallow-repository)" = true ]; then
	echo "version.sh: this is a shallow clone, whose commits cannot be counted: run 'git fetch --unshallow --tags', or set VERSION and MSI_VERSION" >&2
	exit 1
fi

dirty=""
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
	dirty=".dirty"
fi
count=$(git rev-list --count HEAD)
hash=$(git rev-parse --short=7 HEAD)

if desc=$(git describe --tags --match 'v[0-9]*' --long 2>/dev/null); then
	# v1.2.0-3-gabc1234, or v1.2.0-rc1-3-gabc1234
	base=${desc%-*-g*}
	base=${base#v}
	ahead=${desc%-g*}
	ahead=${ahead##*-}
	if [ "$ahead" = 0 ] && [ -z "$dirty" ]; then
		full="$base"
	else
		full="$base+$ahead.g$hash$dirty"
	fi
	IFS=. read -r major minor patch _ <<<"$(echo "$base" | sed -E 's/^([0-9]+(\.[0-9]+)*).*/\1/')"
	msi="$major.${minor:-0}.${patch:-0}"
else
	full="0.0.$count+g$hash$dirty"
	msi="0.0.$count"
fi

if [ "${1:-}" = --msi ]; then
	echo "$msi"
else
	echo "$full"
fi
