// Package installers holds what builds Rollcall's installers, and the
// tests that check them. It has no Go code of its own: build.sh builds
// the binaries, stamped with version.sh, then
//
//   - windows/ the agent's MSIs for amd64 and arm64 (wixl), signed with
//     osslsigncode when given a certificate;
//   - linux/ deb and rpm packages of the agent and the server (nfpm),
//     with their systemd units;
//   - macos/ an archive with the agent's universal binary, its
//     LaunchDaemon and an install script.
//
// `make installers` writes them to dist/. The tests build them into a
// temporary folder and check each one with the tools a packager would:
// msiinfo, osslsigncode verify, dpkg-deb, rpm and systemd-analyze.
package installers
