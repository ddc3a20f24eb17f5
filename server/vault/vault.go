// Package vault seals the secrets the server must keep but never show in
// the clear, such as BitLocker recovery passwords, with AES-256-GCM under a
// key kept in a file outside the database. The database alone never
// reveals a sealed secret.
//
// A sealed value is: version byte 1, the 8-byte ID of the key (the start
// of its SHA-256), the 12-byte nonce, then the ciphertext with its tag.
// The key ID tells which key sealed a value, so that while the key is
// being changed ([Rotate]) a value opens under either key.
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

// KeyFile is the key's file in the data directory. NextKeyFile holds the
// key a rotation is changing to, until the rotation finishes.
const (
	KeyFile     = "vault.key"
	NextKeyFile = "vault.key.next"
)

const (
	version = 1
	keySize = 32
	idSize  = 8
)

// Vault seals secrets with one key and opens them with that key or, while
// a rotation is unfinished, the key it is changing to.
type Vault struct {
	aead cipher.AEAD
	id   []byte
	// next, during a rotation, opens values already sealed again.
	next *Vault
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
	v, err := New(key)
	if err != nil {
		return nil, err
	}
	// A rotation that stopped half way: values may be under either key.
	if next, err := os.ReadFile(filepath.Join(dir, NextKeyFile)); err == nil {
		if v.next, err = New(next); err != nil {
			return nil, fmt.Errorf("%s: %w", NextKeyFile, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read vault key: %w", err)
	}
	return v, nil
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
	case !bytes.Equal(sealed[1:1+idSize], v.id) && v.next != nil:
		return v.next.Open(sealed, context)
	case !bytes.Equal(sealed[1:1+idSize], v.id):
		return nil, errors.New("vault: sealed with another key")
	}
	plain, err := v.aead.Open(nil, sealed[1+idSize:head], sealed[head:], context)
	if err != nil {
		return nil, errors.New("vault: the value or its context has been altered")
	}
	return plain, nil
}

// ID returns the start of the key's SHA-256 in hex, which names the key
// in logs without revealing it.
func (v *Vault) ID() string { return fmt.Sprintf("%x", v.id) }

// Resealer seals every stored value again under a new key; the store's
// ResealAll is one.
type Resealer func(fn func(table string, ids []string, sealed []byte) ([]byte, error)) (int, error)

// Rotate changes the key in dir: it makes the next key (or takes up the
// one a stopped rotation left), has reseal open every stored value with
// the current key and seal it with the next, and then makes the next key
// the key. If it stops part way, both keys open values ([LoadOrCreate]
// loads both) and running it again finishes. The server must not run
// meanwhile: it would seal new values with the old key. Returns how many
// values were sealed again, and the old and new key IDs.
func Rotate(dir string, reseal Resealer) (n int, oldID, newID string, err error) {
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); err != nil {
		return 0, "", "", fmt.Errorf("no vault key in %s (%w): give the data directory the server runs with", dir, err)
	}
	cur, err := LoadOrCreate(dir)
	if err != nil {
		return 0, "", "", err
	}
	next := cur.next
	if next == nil {
		key := make([]byte, keySize)
		if _, err := rand.Read(key); err != nil {
			return 0, "", "", err
		}
		if err := writeKey(filepath.Join(dir, NextKeyFile), key); err != nil {
			return 0, "", "", err
		}
		if next, err = New(key); err != nil {
			return 0, "", "", err
		}
		cur.next = next
	}
	n, err = reseal(func(table string, ids []string, sealed []byte) ([]byte, error) {
		ctx, err := ContextOf(table, ids)
		if err != nil {
			return nil, err
		}
		plain, err := cur.Open(sealed, ctx)
		if err != nil {
			return nil, fmt.Errorf("%s %v: %w", table, ids, err)
		}
		return next.Seal(plain, ctx)
	})
	if err != nil {
		return 0, "", "", fmt.Errorf("seal the stored secrets again (nothing was changed; the old key still opens them): %w", err)
	}
	if err := os.Rename(filepath.Join(dir, NextKeyFile), filepath.Join(dir, KeyFile)); err != nil {
		return n, "", "", fmt.Errorf("the secrets are sealed with the new key in %s, but it could not replace %s (run the rotation again): %w", NextKeyFile, KeyFile, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return n, cur.ID(), next.ID(), nil
}

// writeKey writes a key file that must not exist yet, owner-only.
func writeKey(path string, key []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Base(path), err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return f.Close()
}

// Contexts bind each sealed value to the record it belongs to, so a
// value copied to another record does not open.

// RecoveryKeyContext is what a BitLocker recovery password is sealed with
// besides the key.
func RecoveryKeyContext(protectorID string) []byte {
	return []byte("rollcall recovery key " + protectorID)
}

// TOTPContext is what a person's TOTP secret is sealed with.
func TOTPContext(userID string) []byte { return []byte("totp:" + userID) }

// PINContext is what a PIN record's value, current or old, is sealed with.
func PINContext(assetID, kind string) []byte {
	return []byte("rollcall pin " + assetID + " " + kind)
}

// ContextOf returns the context of a stored value from the table it is
// in and the IDs of its row, as the store's ResealAll gives them.
func ContextOf(table string, ids []string) ([]byte, error) {
	switch {
	case table == "recovery_keys" && len(ids) == 2:
		return RecoveryKeyContext(ids[1]), nil
	case table == "users" && len(ids) == 1:
		return TOTPContext(ids[0]), nil
	case table == "pin_records" && len(ids) == 3:
		return PINContext(ids[1], ids[2]), nil
	case table == "pin_history" && len(ids) == 4:
		return PINContext(ids[2], ids[3]), nil
	}
	return nil, fmt.Errorf("vault: no context for a value in %s with ids %v", table, ids)
}
