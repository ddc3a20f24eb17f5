package client

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// SecureDir makes dir if it is missing and gives it an access list of its
// own, not inherited from ProgramData: full control for SYSTEM, the
// Administrators group and the account running the agent (SYSTEM when it
// runs as a service), and nothing for anyone else. Files made inside later
// inherit the same list. Its owner becomes the Administrators group, so a
// user who made the folder before the agent was installed (anyone may
// create folders in ProgramData) cannot grant themselves access later;
// an agent run by someone who may not set that owner keeps the owner as
// it is.
func SecureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	var sids []*windows.SID
	for _, t := range []windows.WELL_KNOWN_SID_TYPE{windows.WinLocalSystemSid, windows.WinBuiltinAdministratorsSid} {
		sid, err := windows.CreateWellKnownSid(t)
		if err != nil {
			return fmt.Errorf("restrict data dir: %w", err)
		}
		sids = append(sids, sid)
	}
	if u, err := windows.GetCurrentProcessToken().GetTokenUser(); err == nil {
		sids = append(sids, u.User.Sid)
	}
	entries := make([]windows.EXPLICIT_ACCESS, 0, len(sids))
	for _, sid := range sids {
		entries = append(entries, windows.EXPLICIT_ACCESS{
			AccessPermissions: windows.GENERIC_ALL,
			AccessMode:        windows.GRANT_ACCESS,
			Inheritance:       windows.SUB_CONTAINERS_AND_OBJECTS_INHERIT,
			Trustee: windows.TRUSTEE{
				TrusteeForm:  windows.TRUSTEE_IS_SID,
				TrusteeValue: windows.TrusteeValueFromSID(sid),
			},
		})
	}
	acl, err := windows.ACLFromEntries(entries, nil)
	if err != nil {
		return fmt.Errorf("restrict data dir: %w", err)
	}
	admins := sids[1]
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, admins, nil, acl, nil)
	if errors.Is(err, windows.ERROR_INVALID_OWNER) || errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
			windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, acl, nil)
	}
	if err != nil {
		return fmt.Errorf("restrict data dir %s to SYSTEM and Administrators: %w", dir, err)
	}
	return nil
}
