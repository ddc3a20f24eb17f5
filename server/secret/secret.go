// Package secret makes and checks the secrets people and agents hold:
// passwords (stored as bcrypt hashes) and bearer tokens (stored as SHA-256
// hashes, which suits long random values).
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// NewPassword returns a random password of 20 characters that is easy to
// read aloud and type: lower-case letters and digits, in groups of five.
func NewPassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	var b strings.Builder
	for i := range 20 {
		if i > 0 && i%5 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(alphabet[randIndex(len(alphabet))])
	}
	return b.String()
}

// HashPassword returns the bcrypt hash of password.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether password matches hash.
func CheckPassword(hash, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// noUserHash is a bcrypt hash of a random password nobody knows.
var noUserHash, _ = HashPassword(base64.RawURLEncoding.EncodeToString(Random(16)))

// CheckNoUser spends as long as CheckPassword and returns false, for a
// sign-in with an unknown email address: answering faster would tell an
// attacker which addresses have accounts.
func CheckNoUser(password string) bool {
	CheckPassword(noUserHash, password)
	return false
}

// NewToken returns a random bearer token starting with prefix, and the
// SHA-256 hash to store in its place.
func NewToken(prefix string) (token string, hash []byte) {
	token = prefix + base64.RawURLEncoding.EncodeToString(Random(32))
	return token, HashToken(token)
}

// HashToken returns the SHA-256 of token.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Random returns n random bytes.
func Random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b
}

func randIndex(n int) int {
	for {
		b := Random(1)[0]
		if int(b) < 256-256%n {
			return int(b) % n
		}
	}
}
