#!/usr/bin/env bash
# Builds OUT/rollcall-agent-$VERSION-macos-universal.tar.gz: the agent as
# one universal binary (from OUT/bin/darwin-amd64 and darwin-arm64), its
# LaunchDaemon, install.sh, uninstall.sh and README.txt. Nothing here is
# signed with a Developer ID or notarised: that needs a Mac (see
# docs/install.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1
: "${VERSION:?VERSION is not set: run installers/build.sh}"
GO=${GO:-go}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dir="$stage/rollcall-agent-$VERSION-macos"
mkdir -p "$dir"
(cd "$here/../.." && $GO run ./installers/macos/universal -o "$dir/rollcall-agent" \
	"$out/bin/darwin-amd64/rollcall-agent" "$out/bin/darwin-arm64/rollcall-agent")
install -m 0644 "$here/com.rollcall.agent.plist" "$here/README.txt" "$dir/"
install -m 0755 "$here/install.sh" "$here/uninstall.sh" "$dir/"
archive="$out/rollcall-agent-$VERSION-macos-universal.tar.gz"
tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$archive" "$(basename "$dir")"
echo "  macOS: $(basename "$archive") (universal binary, not notarised)"
