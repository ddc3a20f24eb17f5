package collect

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/yusufpapurcu/wmi"
	"golang.org/x/sys/windows/registry"
	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// The WMI classes queried, in root\cimv2. Each struct lists the properties read; the type name
// is not the class name, so queries name the class explicitly.
type (
	win32ComputerSystem struct {
		Manufacturer string
		Model        string
		UserName     string // DOMAIN\user at the console, null when nobody is logged in
	}
	win32BIOS struct {
		SerialNumber string
	}
	win32ComputerSystemProduct struct {
		IdentifyingNumber string
		Version           string
	}
	win32SystemEnclosure struct {
		// ChassisTypes is uint16[] in CIM, but WMI hands it over automation as 32-bit
		// integers, which the wmi package can store only in signed integers.
		ChassisTypes []int32
	}
	win32OperatingSystem struct {
		InstallDate string // CIM_DATETIME, decoded by parseWMIDateTime
	}
	win32DiskDrive struct {
		DeviceID      string
		Model         string
		SerialNumber  string
		Size          uint64
		InterfaceType string
		MediaType     string
	}
)

// wmiClient tolerates properties missing on older Windows versions instead of failing the query.
var wmiClient = &wmi.Client{AllowMissingFields: true}

// queryWMI fills dst, a pointer to a slice of one of the structs above, from class. The wmi
// package cannot be cancelled; the part's timeout abandons a query that hangs.
func queryWMI[T any](class string, dst *[]T) error {
	if err := wmiClient.Query(wmi.CreateQuery(dst, "", class), dst); err != nil {
		return fmt.Errorf("query %s: %w", class, err)
	}
	return nil
}

// osParts are the Windows parts, all from WMI: identity with the console user, the install date
// and the disks.
func osParts() []part {
	return []part{
		{"wmi system", collectWindowsSystem},
		{"install date", collectWindowsInstallDate},
		{"disks", collectWindowsDisks},
	}
}

// refineOSVersion appends the feature update, such as "23H2", which gopsutil does not give, to
// gopsutil's version. Builds before 20H2 have only ReleaseId, such as "1909".
func refineOSVersion(version string) string {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Windows NT\CurrentVersion`,
		registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return version
	}
	defer k.Close()
	for _, name := range []string{"DisplayVersion", "ReleaseId"} {
		if v, _, err := k.GetStringValue(name); err == nil && strings.TrimSpace(v) != "" {
			return windowsOSVersion(version, v)
		}
	}
	return version
}

// collectWindowsSystem fills make, model, serial, chassis type and the user at the console.
func collectWindowsSystem(_ context.Context, hw *agentv1.Hardware) error {
	var (
		w    windowsPlatform
		errs []error
	)
	var cs []win32ComputerSystem
	if err := queryWMI("Win32_ComputerSystem", &cs); err != nil {
		errs = append(errs, err)
	} else if len(cs) > 0 {
		w.Manufacturer, w.Model = cs[0].Manufacturer, cs[0].Model
		hw.LoggedInUser = strings.TrimSpace(cs[0].UserName)
	}
	var bios []win32BIOS
	if err := queryWMI("Win32_BIOS", &bios); err != nil {
		errs = append(errs, err)
	} else if len(bios) > 0 {
		w.BIOSSerial = bios[0].SerialNumber
	}
	var product []win32ComputerSystemProduct
	if err := queryWMI("Win32_ComputerSystemProduct", &product); err != nil {
		errs = append(errs, err)
	} else if len(product) > 0 {
		w.IdentifyingNumber, w.ProductVersion = product[0].IdentifyingNumber, product[0].Version
	}
	var enclosures []win32SystemEnclosure
	if err := queryWMI("Win32_SystemEnclosure", &enclosures); err != nil {
		errs = append(errs, err)
	} else {
		for _, e := range enclosures {
			w.ChassisTypes = append(w.ChassisTypes, e.ChassisTypes...)
		}
	}
	w.decode().fill(hw)
	return errors.Join(errs...)
}

// collectWindowsInstallDate fills the OS install date from Win32_OperatingSystem.InstallDate.
// Windows resets it when a feature update is installed, so it may be later than the first
// installation.
func collectWindowsInstallDate(_ context.Context, hw *agentv1.Hardware) error {
	var osys []win32OperatingSystem
	if err := queryWMI("Win32_OperatingSystem", &osys); err != nil {
		return err
	}
	if len(osys) == 0 || osys[0].InstallDate == "" {
		return errors.New("install date: not set")
	}
	t, err := parseWMIDateTime(osys[0].InstallDate)
	if err != nil {
		return fmt.Errorf("install date: %w", err)
	}
	hw.OsInstallDate = timestamppb.New(t)
	return nil
}

// collectWindowsDisks fills the disks from Win32_DiskDrive.
func collectWindowsDisks(_ context.Context, hw *agentv1.Hardware) error {
	var drives []win32DiskDrive
	if err := queryWMI("Win32_DiskDrive", &drives); err != nil {
		return err
	}
	ds := make([]windowsDisk, len(drives))
	for i, d := range drives {
		ds[i] = windowsDisk(d)
	}
	hw.Disks = decodeWindowsDisks(ds)
	return nil
}

// consoleUserPart reads the logged-in user for ConsoleUser: Win32_ComputerSystem names the
// console user; its other fields are read too and dropped.
var consoleUserPart = collectWindowsSystem
