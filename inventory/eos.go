package inventory

import (
	"regexp"
	"strings"
	"time"
)

// date is a UTC calendar date.
func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// windows11 holds, per feature update, when Microsoft stops servicing
// Home and Pro, and Enterprise and Education editions.
var windows11 = map[string][2]time.Time{
	"21H2": {date(2023, 10, 10), date(2024, 10, 8)},
	"22H2": {date(2024, 10, 8), date(2025, 10, 14)},
	"23H2": {date(2025, 11, 11), date(2026, 11, 10)},
	"24H2": {date(2026, 10, 13), date(2027, 10, 12)},
	"25H2": {date(2027, 10, 12), date(2028, 10, 10)},
}

// linuxReleases holds when each release's standard security support
// ends, by the OS name gopsutil gives and the version's major part.
var linuxReleases = map[string]map[string]time.Time{
	"ubuntu": {"20.04": date(2025, 5, 31), "22.04": date(2027, 6, 1), "24.04": date(2029, 5, 31)},
	"debian": {"11": date(2024, 8, 14), "12": date(2026, 6, 10), "13": date(2028, 8, 9)},
}

var displayVersion = regexp.MustCompile(`\((\d\d)H([12])\)`)

// OSEndOfSupport returns when the vendor stops security updates for the
// operating system an agent reported, and false when Rollcall does not
// know: Apple publishes no dates, and unknown releases are not guessed.
func OSEndOfSupport(osName, osVersion string) (time.Time, bool) {
	name := strings.ToLower(osName)
	switch {
	case strings.Contains(name, "windows 10"):
		return date(2025, 10, 14), true // 22H2, the last; Extended Security Updates are paid
	case strings.Contains(name, "windows 11"):
		m := displayVersion.FindStringSubmatch(osVersion)
		if m == nil {
			return time.Time{}, false
		}
		dates, ok := windows11[m[1]+"H"+m[2]]
		if !ok {
			return time.Time{}, false
		}
		if strings.Contains(name, "enterprise") || strings.Contains(name, "education") {
			return dates[1], true
		}
		return dates[0], true
	}
	if rel, ok := linuxReleases[name]; ok {
		v := osVersion
		if name == "debian" {
			v, _, _ = strings.Cut(v, ".")
		}
		t, ok := rel[v]
		return t, ok
	}
	return time.Time{}, false
}
