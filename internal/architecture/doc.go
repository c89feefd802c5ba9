// Package architecture has no code of its own: its tests hold the rules of
// Tower's layout that the compiler does not, so that breaking one fails
// `go test` rather than a review.
//
//   - One owner per table: each table is written by exactly one package;
//     others ask it (Owners lists them).
//   - The read side (internal/storage) does not import detection or the
//     configuration.
//   - domain/ does no I/O: no database, HTTP, bus or file system.
package architecture
