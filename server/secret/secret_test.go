package secret

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestNewPassword(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		p := NewPassword()
		if !regexp.MustCompile(`^[a-z2-9]{5}(-[a-z2-9]{5}){3}$`).MatchString(p) {
			t.Fatalf("password %q has the wrong shape", p)
		}
		if seen[p] {
			t.Fatalf("password %q repeated", p)
		}
		seen[p] = true
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("hash contains the password")
	}
	if !CheckPassword(h, "correct horse") {
		t.Error("right password refused")
	}
	if CheckPassword(h, "wrong horse") {
		t.Error("wrong password accepted")
	}
}

func TestNewToken(t *testing.T) {
	tok, hash := NewToken("rcapi_")
	if !strings.HasPrefix(tok, "rcapi_") || len(tok) < 40 {
		t.Fatalf("token %q", tok)
	}
	if !bytes.Equal(HashToken(tok), hash) {
		t.Error("hash does not match token")
	}
	if other, _ := NewToken("rcapi_"); other == tok {
		t.Error("tokens repeat")
	}
}

func TestCheckNoUser(t *testing.T) {
	for _, pw := range []string{"", "password", NewPassword()} {
		if CheckNoUser(pw) {
			t.Errorf("CheckNoUser(%q) = true; an unknown user never signs in", pw)
		}
	}
}
