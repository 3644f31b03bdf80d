#!/usr/bin/env bash
# Make sure a Chromium for the browser tests is installed; print its path on stdout.
# Honours CHROMIUM_PATH when it points at an executable. Installs the Debian `chromium` package
# when nothing is found.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

find_chromium() {
	if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ]; then
		printf '%s\n' "$CHROMIUM_PATH"
		return 0
	fi
	command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null
}

if ! path=$(find_chromium); then
	apt_install chromium
	path=$(find_chromium) || die "chromium not found after installing"
fi
printf '%s\n' "$path"
