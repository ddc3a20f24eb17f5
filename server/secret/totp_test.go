package secret

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestCheckTOTP(t *testing.T) {
	sec, err := NewTOTP("Rollcall", "it@school.example")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 9, 0, 10, 0, time.UTC)
	code := func(at time.Time) string {
		c, err := TOTPCode(sec, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	step := now.Unix() / TOTPPeriod
	tests := []struct {
		name     string
		code     string
		wantOK   bool
		wantStep int64
	}{
		{"Now", code(now), true, step},
		{"Spaced", code(now)[:3] + " " + code(now)[3:], true, step},
		{"StepBefore", code(now.Add(-30 * time.Second)), true, step - 1},
		{"StepAfter", code(now.Add(30 * time.Second)), true, step + 1},
		{"TwoStepsOld", code(now.Add(-90 * time.Second)), false, 0},
		{"Short", "123", false, 0},
		{"Letters", "abcdef", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := CheckTOTP(sec, tc.code, now)
			if ok != tc.wantOK || got != tc.wantStep {
				t.Errorf("CheckTOTP(%q) = %d, %v; want %d, %v", tc.code, got, ok, tc.wantStep, tc.wantOK)
			}
		})
	}
}

func TestTOTPURL(t *testing.T) {
	u := TOTPURL("Rollcall", "it@school.example", "JBSWY3DPEHPK3PXP")
	for _, want := range []string{"otpauth://totp/Rollcall:it@school.example?", "secret=JBSWY3DPEHPK3PXP", "issuer=Rollcall", "period=30"} {
		if !strings.Contains(u, want) {
			t.Errorf("TOTPURL = %q, lacks %q", u, want)
		}
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes, hashes := NewRecoveryCodes(10)
	if len(codes) != 10 || len(hashes) != 10 {
		t.Fatalf("got %d codes, %d hashes", len(codes), len(hashes))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if len(c) != 11 || c[5] != '-' || seen[c] {
			t.Errorf("code %q: want a new xxxxx-xxxxx", c)
		}
		seen[c] = true
		if !bytes.Equal(HashRecoveryCode(" "+strings.ToUpper(c)+" "), hashes[i]) {
			t.Errorf("code %q typed in capitals does not match its hash", c)
		}
	}
}
