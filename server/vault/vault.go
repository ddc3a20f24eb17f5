// Package vault seals the secrets the server must keep but never show in
// the clear, such as BitLocker recovery passwords, with AES-256-GCM under a
// key kept in a file outside the database. The database alone never
// reveals a sealed secret.
//
// A sealed value is: version byte 1, the 8-byte ID of the key (the start
// of its SHA-256), the 12-byte nonce, then the ciphertext with its tag.
// The key ID lets a future key rotation tell which key sealed a value.
package vault

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyFile is the key's file in the data directory.
const KeyFile = "vault.key"

const (
	version = 1
	keySize = 32
	idSize  = 8
)

// Vault seals and opens secrets with one key.
type Vault struct {
	aead cipher.AEAD
	id   []byte
}

// LoadOrCreate reads the key from dir, or makes a new random key there
// (mode 0600) when none exists.
func LoadOrCreate(dir string) (*Vault, error) {
	path := filepath.Join(dir, KeyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, keySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		// O_EXCL: two servers starting at once must not write two keys.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreate(dir)
		} else if err != nil {
			return nil, fmt.Errorf("create vault key: %w", err)
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			return nil, fmt.Errorf("write vault key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("write vault key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read vault key: %w", err)
	}
	return New(key)
}

// New returns a vault with a 32-byte key.
func New(key []byte) (*Vault, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("vault key is %d bytes, want %d: the file %s is damaged", len(key), keySize, KeyFile)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(key)
	return &Vault{aead: aead, id: sum[:idSize]}, nil
}

// Seal encrypts plaintext bound to context, which must be given again to
// open it (for example the device and protector IDs), so a sealed value
// copied to another record does not open.
func (v *Vault) Seal(plaintext, context []byte) ([]byte, error) {
	nonce := make([]byte, v.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte{version}, v.id...)
	out = append(out, nonce...)
	return v.aead.Seal(out, nonce, plaintext, context), nil
}

// Open decrypts a value made by Seal with the same context.
func (v *Vault) Open(sealed, context []byte) ([]byte, error) {
	head := 1 + idSize + v.aead.NonceSize()
	switch {
	case len(sealed) < head+v.aead.Overhead() || sealed[0] != version:
		return nil, errors.New("vault: not a sealed value")
	case !bytes.Equal(sealed[1:1+idSize], v.id):
		return nil, errors.New("vault: sealed with another key")
	}
	plain, err := v.aead.Open(nil, sealed[1+idSize:head], sealed[head:], context)
	if err != nil {
		return nil, errors.New("vault: the value or its context has been altered")
	}
	return plain, nil
}
