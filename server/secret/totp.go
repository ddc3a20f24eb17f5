package secret

import (
	"crypto/subtle"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTPPeriod is the time step of the codes an authenticator app shows.
const TOTPPeriod = 30

// totpOpts are the settings every authenticator app supports: SHA-1,
// six digits, 30-second steps.
var totpOpts = totp.ValidateOpts{Period: TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewTOTP makes a new random TOTP secret for account and returns it in
// base32, as authenticator apps take it.
func NewTOTP(issuer, account string) (string, error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", err
	}
	return k.Secret(), nil
}

// TOTPURL returns the otpauth:// URL of a base32 secret, which a QR code
// carries to an authenticator app.
func TOTPURL(issuer, account, base32 string) string {
	q := url.Values{}
	q.Set("secret", base32)
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", "6")
	q.Set("period", "30")
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: q.Encode()}
	return u.String()
}

// CheckTOTP reports whether code is the code of secret at now, or at the
// step before or after (clocks drift), and returns that step's number so
// the caller can refuse a code used before. Spaces in code are ignored.
func CheckTOTP(base32, code string, now time.Time) (step int64, ok bool) {
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != 6 {
		return 0, false
	}
	for _, skew := range []int64{0, -1, 1} {
		at := now.Add(time.Duration(skew*TOTPPeriod) * time.Second)
		want, err := totp.GenerateCodeCustom(base32, at, totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return at.Unix() / TOTPPeriod, true
		}
	}
	return 0, false
}

// TOTPCode returns the code of secret at t, for tests and set-up checks.
func TOTPCode(base32 string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(base32, t, totpOpts)
}

// NewRecoveryCodes returns n one-time recovery codes, such as
// "k7qmz-4r2xd", and the SHA-256 hashes to store in their place.
func NewRecoveryCodes(n int) (codes []string, hashes [][]byte) {
	for range n {
		c := NewPassword()[:11] // two groups of five
		codes = append(codes, c)
		hashes = append(hashes, HashRecoveryCode(c))
	}
	return codes, hashes
}

// HashRecoveryCode returns the stored form of a recovery code as typed:
// case and surrounding spaces do not matter.
func HashRecoveryCode(code string) []byte {
	return HashToken(strings.ToLower(strings.TrimSpace(code)))
}
