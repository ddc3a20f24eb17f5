//go:build !linux && !windows && !darwin

package collect

// osParts lists no OS-specific parts on this OS: make, model, serial, chassis type, disks and
// install date stay empty. The logged-in user comes from gopsutil where it can list sessions.
func osParts() []part {
	return []part{{"users", collectUsers}}
}

// refineOSVersion returns gopsutil's platform version unchanged.
func refineOSVersion(version string) string { return version }

// consoleUserPart reads the logged-in user for ConsoleUser.
var consoleUserPart = collectUsers
