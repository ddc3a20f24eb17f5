package main

import (
	"log/slog"
	"time"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// setRecovery makes Windows restart the agent's service when it fails:
// 10 seconds after each failure, the count of failures reset after a day.
// The MSI installs the service through the ServiceInstall table, which
// cannot say this, so the service sets it on itself when it starts. It
// does nothing when the agent is not running as a service.
func setRecovery(logger *slog.Logger) {
	if ok, err := svc.IsWindowsService(); err != nil || !ok {
		return
	}
	m, err := mgr.Connect()
	if err != nil {
		logger.Warn("could not set the service's recovery actions", "err", err)
		return
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		logger.Warn("could not set the service's recovery actions", "err", err)
		return
	}
	defer s.Close()
	restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: 10 * time.Second}
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{restart, restart, restart}, uint32((24 * time.Hour).Seconds())); err != nil {
		logger.Warn("could not set the service's recovery actions", "err", err)
	}
}
