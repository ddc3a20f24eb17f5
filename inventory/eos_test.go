package inventory_test

import (
	"testing"
	"time"

	"github.com/rollcall/rollcall/inventory"
)

func TestOSEndOfSupport(t *testing.T) {
	tests := []struct {
		name, version string
		want          string // "" means unknown
	}{
		{"Microsoft Windows 11 Education", "10.0.22631.3447 Build 22631.3447 (23H2)", "2026-11-10"},
		{"Microsoft Windows 11 Pro", "10.0.22631.3447 Build 22631.3447 (23H2)", "2025-11-11"},
		{"Microsoft Windows 11 Pro", "10.0.26100.2033 Build 26100.2033 (24H2)", "2026-10-13"},
		{"Microsoft Windows 11 Enterprise", "10.0.26200.1 Build 26200.1 (25H2)", "2028-10-10"},
		{"Microsoft Windows 11 Pro", "10.0.26100.2033 Build 26100.2033", ""},
		{"Microsoft Windows 11 Pro", "10.0.30000.1 (29H2)", ""},
		{"Microsoft Windows 10 Pro", "10.0.19045.5011 Build 19045.5011 (22H2)", "2025-10-14"},
		{"debian", "12.11", "2026-06-10"},
		{"debian", "14.0", ""},
		{"ubuntu", "24.04", "2029-05-31"},
		{"darwin", "15.1", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		got, ok := inventory.OSEndOfSupport(tt.name, tt.version)
		if tt.want == "" {
			if ok {
				t.Errorf("OSEndOfSupport(%q, %q) = %v, want unknown", tt.name, tt.version, got)
			}
			continue
		}
		if !ok || got.Format(time.DateOnly) != tt.want {
			t.Errorf("OSEndOfSupport(%q, %q) = %v, %v; want %s", tt.name, tt.version, got, ok, tt.want)
		}
	}
}
