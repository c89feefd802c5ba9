package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters: OWASP's first recommended set (19 MiB, 2 passes, one
// lane). About 30 ms on the small shared machines Tower runs on, which is
// slow enough against guessing and light enough for a burst of logins.
// The parameters are stored in each hash, so raising them later re-hashes
// nothing and still verifies old hashes.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// Bounds on stored parameters: a hash is read from the database, and an
// absurd memory cost in a tampered row must not take the server down.
const (
	maxArgonMemory  = 256 * 1024
	maxArgonTime    = 10
	maxArgonThreads = 8
)

// Password length bounds, in characters (argon2 itself takes any length;
// the upper bound only stops a megabyte "password" being hashed).
const (
	MinPasswordLen = 10
	MaxPasswordLen = 128
)

// PasswordError says why a new password is refused.
type PasswordError struct{ Reason string }

func (e *PasswordError) Error() string { return "password " + e.Reason }

// CheckPassword refuses passwords too short or long, or with control
// characters (a pasted newline is a mistake, not entropy).
func CheckPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return &PasswordError{"is not valid UTF-8"}
	case n < MinPasswordLen:
		return &PasswordError{fmt.Sprintf("needs at least %d characters", MinPasswordLen)}
	case n > MaxPasswordLen:
		return &PasswordError{fmt.Sprintf("may have at most %d characters", MaxPasswordLen)}
	case strings.IndexFunc(pw, unicode.IsControl) >= 0:
		return &PasswordError{"may not contain control characters"}
	}
	return nil
}

// HashPassword hashes pw with argon2id and a fresh salt, as a PHC string
// ($argon2id$v=19$m=...,t=...,p=...$salt$key).
func HashPassword(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("not an argon2id hash")

// VerifyPassword reports whether pw matches encoded, comparing in constant
// time.
func VerifyPassword(encoded, pw string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var mem, t uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &threads); err != nil {
		return false, errBadHash
	}
	if mem == 0 || mem > maxArgonMemory || t == 0 || t > maxArgonTime || threads == 0 || threads > maxArgonThreads {
		return false, errBadHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(pw), salt, t, mem, threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// dummyHash is verified against when a login names no account, so that
// an unknown name costs as much time as a wrong password and names cannot
// be told apart by timing.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword(rand.Text())
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return h
})
