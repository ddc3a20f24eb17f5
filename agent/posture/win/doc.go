// Package win reads a Windows device's security posture for the agent,
// which runs as a LocalSystem service.
//
// What is read, and from where:
//
//   - Antivirus: AntiVirusProduct in root\SecurityCenter2, every product
//     Security Center knows, with productState decoded (state bits 0xF000:
//     on, off, snoozed, expired; signature bits 0x00F0: 0 is up to date)
//     and its RFC 1123 timestamp as signature_updated; and
//     MSFT_MpComputerStatus in root\Microsoft\Windows\Defender as a
//     product of source "defender" (AntivirusEnabled, AMServiceEnabled,
//     RealTimeProtectionEnabled, AMRunningMode, the signature version,
//     last update and age, DefenderSignaturesOutOfDate). Windows Server
//     has no Security Center; either source alone is enough, and only
//     when neither answers is the concern unknown.
//   - Encryption: Win32_EncryptableVolume in
//     ROOT\CIMV2\Security\MicrosoftVolumeEncryption, queried through
//     go-ole so that the live methods can be called with out parameters:
//     GetProtectionStatus (the ProtectionStatus property can be stale),
//     GetConversionStatus with PrecisionFactor 1, GetEncryptionMethod,
//     GetLockStatus, GetKeyProtectors and GetKeyProtectorType, and
//     GetKeyProtectorNumericalPassword for numerical-password protectors.
//     Recovery passwords go only into Encryption.recovery_keys for escrow;
//     they are held in a type that prints as [redacted] and appear in no
//     error or log.
//   - Screen lock: the machine inactivity limit (InactivityTimeoutSecs
//     under HKLM\…\Policies\System); CONSOLELOCK, VIDEOIDLE and
//     STANDBYIDLE of the active power scheme on AC and DC through
//     powrprof.dll, with their Group Policy copies under
//     HKLM\SOFTWARE\Policies\Microsoft\Power\PowerSettings winning; and
//     the console user's screen saver (ScreenSaveActive,
//     ScreenSaveTimeOut, ScreenSaverIsSecure, SCRNSAVE.EXE) from
//     HKEY_USERS\<SID>\Control Panel\Desktop, with the policy copy under
//     …\Software\Policies\Microsoft\Windows\Control Panel\Desktop
//     winning. The console user comes from WTSGetActiveConsoleSessionId
//     and WTSQueryUserToken. The idle lock is the soonest of the
//     inactivity limit, the secure screen saver and, when CONSOLELOCK
//     asks for sign-in on wake, the sleep timeout; AC and DC are judged
//     apart and the stricter reported. Every value read is listed in
//     settings with its source ("policy", "user" or "machine").
//   - USB: SetupAPI's device lists for the USB and USBSTOR enumerators
//     (attached devices only for USB, every recorded one for
//     USBHistory). The vendor and product IDs and the serial come from
//     the instance ID (USB\VID_0781&PID_5567\<serial>; an instance part
//     with '&' as its second character is made up by Windows, not a
//     serial), the class from the compatible IDs (USB\Class_08…), the
//     product name from the string the device reports
//     (DEVPKEY_Device_BusReportedDeviceDesc), and vendor and product from
//     the USBSTOR disk's ID (Ven_…&Prod_…) for mass storage. USBHistory
//     adds DEVPKEY_Device_FirstInstallDate and LastArrivalDate.
//     SetupAPI is used rather than Win32_PnPEntity so that attached
//     devices, history and live events share one reader, and because
//     Win32_PnPEntity does not carry the device's own product string.
//   - Live USB events: CM_Register_Notification (cfgmgr32.dll, Windows 8
//     and later) for GUID_DEVINTERFACE_USB_DEVICE, which calls back as
//     soon as a device's interface arrives or leaves, with no window,
//     message loop or polling. The device is named by the interface's
//     symbolic link (\\?\USB#VID_0781&PID_5567#<serial>#{…}) and looked
//     up with SetupAPI half a second after arrival, so that its disk is
//     known. A WMI __InstanceCreationEvent subscription was not chosen: it
//     polls (WITHIN n seconds) and keeps WMI busy for as long as the agent
//     runs.
//
// Permissions: Security Center, Defender's status, the power scheme,
// HKLM policies and SetupAPI's device lists are readable by any user.
// BitLocker needs administrator rights ("no permission: BitLocker status
// needs administrator rights" otherwise). WTSQueryUserToken needs SYSTEM;
// run as an administrator instead, the reader falls back to the user
// hives loaded under HKEY_USERS (S-1-5-21-…), preferring the last user to
// sign in.
//
// What is not read: antivirus products Security Center does not know
// (all of them on Windows Server but Defender), Defender's other shields
// and scan ages; encryption other than BitLocker (VeraCrypt, other
// full-disk products, self-encrypting drives outside BitLocker) and TPM
// state; screen-lock rules from MDM (the DeviceLock CSP under
// PolicyManager), Dynamic Lock, and the display-off timeout as a lock
// (it is listed in settings but not counted, as only sleep is sure to
// ask for sign-in under CONSOLELOCK), the settings of users not at the
// console or whose hive is not loaded; USB devices on other buses
// (Thunderbolt storage, SD slots on PCI), the device's own manufacturer
// string (Windows keeps no property for it), the Kernel-PnP and
// Partition event logs and setupapi.dev.log. The user at the time of a
// live USB event is left to the caller.
//
// Each reader's decoding is in decode.go, without build tags, and is
// tested on every OS against recorded outputs in testdata/; the
// *_windows.go files only make the calls that fetch the raw values.
package win
