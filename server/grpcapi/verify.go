package grpcapi

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"
)

// maxVerifiedCerts bounds the verified-certificate cache: beyond it the
// cache starts again empty. It is more than the largest fleet one server
// is sized for, so a steady fleet never empties it.
const maxVerifiedCerts = 1 << 18

// verifiedCerts remembers client certificates whose chain to the CA and
// key usage have been checked, by the SHA-256 of their DER, so that an
// agent's every call costs a hash, not a signature check. What can change
// is not remembered: each call still checks the validity period, and the
// enrolment (and so revocation) is read from the store every time.
type verifiedCerts struct {
	mu   sync.Mutex
	seen map[[sha256.Size]byte]struct{}
}

func (v *verifiedCerts) has(sum [sha256.Size]byte) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.seen[sum]
	return ok
}

func (v *verifiedCerts) add(sum [sha256.Size]byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil || len(v.seen) >= maxVerifiedCerts {
		v.seen = make(map[[sha256.Size]byte]struct{})
	}
	v.seen[sum] = struct{}{}
}

// verifyClient is [pki.CA.VerifyClient], with the signature check made
// once per certificate.
func (s *Server) verifyClient(cert *x509.Certificate, now time.Time) error {
	sum := sha256.Sum256(cert.Raw)
	if s.verified.has(sum) && !now.Before(cert.NotBefore) && !now.After(cert.NotAfter) {
		return nil
	}
	if err := s.ca.VerifyClient(cert, now); err != nil {
		return err
	}
	s.verified.add(sum)
	return nil
}
