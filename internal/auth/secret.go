package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Prefixes make Tower's secrets recognisable: leak scanners (and people)
// can spot a pasted token, and Authenticate tells the two kinds apart.
const (
	// TokenPrefix starts every API token.
	TokenPrefix = "tower_pat_"
	// SessionPrefix starts every session token (the cookie's value).
	SessionPrefix = "tower_ses_"
)

// secretBytes is the entropy of every token: 256 bits, so a hash of it
// needs no salt or slow hashing.
const secretBytes = 32

// displayLen is how much of an API token lists show: the prefix and four
// characters, enough to tell tokens apart, far too little to guess from.
const displayLen = len(TokenPrefix) + 4

// newSecret returns prefix followed by 43 URL-safe base64 characters.
func newSecret(prefix string) string {
	b := make([]byte, secretBytes)
	_, _ = rand.Read(b) // never fails on supported platforms
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// hashSecret is what is stored and looked up: SHA-256 of the whole token.
func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// wellFormed reports whether s looks like a secret of prefix, before any
// database lookup.
func wellFormed(s, prefix string) bool {
	if !strings.HasPrefix(s, prefix) || len(s) != len(prefix)+43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s[len(prefix):])
	return err == nil
}
