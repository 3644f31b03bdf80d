#!/usr/bin/env bash
# `make lint`: gofmt, go vet, staticcheck. `lint.sh fmt` rewrites files with gofmt instead.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"
ensure_go

# Go files of the module, skipping hidden folders (.data, .git), bin/ and vendor/.
go_files() {
	find . \( -path './.*' -o -path ./bin -o -path ./vendor \) -prune -o -type f -name '*.go' -print0
}

if [ "${1:-}" = fmt ]; then
	go_files | xargs -0 -r gofmt -w
	exit 0
fi

status=0
unformatted=$(go_files | xargs -0 -r gofmt -l)
if [ -n "$unformatted" ]; then
	printf 'gofmt: these files need formatting (run make fmt):\n%s\n' "$unformatted" >&2
	status=1
fi
log "go vet ./..."
go vet ./... || status=1
log "staticcheck ./..."
go run honnef.co/go/tools/cmd/staticcheck@latest ./... || status=1
exit "$status"
