package main

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/windows/registry"
)

// installerKey and installerValue are where the MSI records the
// ENROLL_TOKEN it was given (see installers/windows/rollcall-agent.wxs).
const (
	installerKey   = `SOFTWARE\Rollcall\Agent`
	installerValue = "EnrollToken"
)

// installerToken returns the enrolment token the MSI recorded in the
// registry, with a clear that deletes the value.
func installerToken() (pendingToken, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, installerKey, registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return pendingToken{}, nil
	} else if err != nil {
		return pendingToken{}, fmt.Errorf(`open HKLM\%s: %w`, installerKey, err)
	}
	v, _, err := k.GetStringValue(installerValue)
	k.Close()
	if errors.Is(err, registry.ErrNotExist) || (err == nil && strings.TrimSpace(v) == "") {
		return pendingToken{}, nil
	} else if err != nil {
		return pendingToken{}, fmt.Errorf(`read HKLM\%s\%s: %w`, installerKey, installerValue, err)
	}
	clear := func() error {
		k, err := registry.OpenKey(registry.LOCAL_MACHINE, installerKey, registry.SET_VALUE)
		if err != nil {
			return err
		}
		defer k.Close()
		return k.DeleteValue(installerValue)
	}
	return pendingToken{value: strings.TrimSpace(v), from: `HKLM\` + installerKey + `\` + installerValue, clear: clear}, nil
}
