// Package webapp embeds the built SPA (dist/) into the Go binary.
package webapp

import "embed"

//go:embed all:dist
var Dist embed.FS
