// Package migrations holds the schema as SQL files, embedded in the binary
// and applied by goose. Every tenant table must enable and force row-level
// security; tenant/'s catalog test fails for one that does not.
package migrations

import "embed"

// FS holds the numbered SQL migrations.
//
//go:embed *.sql
var FS embed.FS
