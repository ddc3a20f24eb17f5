#!/usr/bin/env bash
# Prints Rollcall's version, the one place every binary and package takes
# it from: `git describe` of the newest v* tag ("v1.2.0" gives 1.2.0, and
# 3 commits later 1.2.0+3.gabc1234), or before any tag 0.0.N+gHASH with N
# the number of commits. ".dirty" marks a work tree with changes.
#
#   installers/version.sh         the version, e.g. 0.0.412+g737a690
#   installers/version.sh --msi   the MSI's ProductVersion, three numbers
#                                 that grow with every commit: 1.2.3 for a
#                                 tag, 0.0.N before any tag
set -euo pipefail
cd "$(dirname "$0")/.."

dirty=""
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	dirty=".dirty"
fi
count=$(git rev-list --count HEAD 2>/dev/null || echo 0)
hash=$(git rev-parse --short=7 HEAD 2>/dev/null || echo unknown)

if desc=$(git describe --tags --match 'v[0-9]*' --long 2>/dev/null); then
	# v1.2.0-3-gabc1234
	base=${desc%-*-g*}
	base=${base#v}
	ahead=${desc#*-}
	ahead=${ahead%%-*}
	if [ "$ahead" = 0 ]; then
		full="$base"
	else
		full="$base+$ahead.g$hash"
	fi
	msi=$(echo "$base" | sed -E 's/^([0-9]+)\.([0-9]+)\.([0-9]+).*/\1.\2.\3/')
else
	full="0.0.$count+g$hash"
	msi="0.0.$count"
fi

case "${1:-}" in
--msi) echo "$msi" ;;
"") echo "$full$dirty" ;;
*) echo "usage: $0 [--msi]" >&2; exit 2 ;;
esac
