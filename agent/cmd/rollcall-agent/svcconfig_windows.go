package main

import (
	"log/slog"
	"time"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// configureService sets what the MSI's ServiceInstall table cannot say
// about the agent's service, on the service itself when it starts, as
// `rollcall-agent install` sets it: Windows restarts it 10 seconds after
// each failure (the count reset after a day), and starts it a little
// after boot (delayed automatic start) so it does not slow the sign-in.
// It does nothing when the agent is not running as a service, and only
// logs what fails.
func configureService(logger *slog.Logger) {
	if ok, err := svc.IsWindowsService(); err != nil || !ok {
		return
	}
	m, err := mgr.Connect()
	if err != nil {
		logger.Warn("could not configure the service", "err", err)
		return
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		logger.Warn("could not configure the service", "err", err)
		return
	}
	defer s.Close()
	restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: 10 * time.Second}
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{restart, restart, restart}, uint32((24 * time.Hour).Seconds())); err != nil {
		logger.Warn("could not set the service's recovery actions", "err", err)
	}
	c, err := s.Config()
	if err != nil {
		logger.Warn("could not read the service's configuration", "err", err)
		return
	}
	if c.StartType == mgr.StartAutomatic && !c.DelayedAutoStart {
		c.DelayedAutoStart = true
		if err := s.UpdateConfig(c); err != nil {
			logger.Warn("could not set the service's delayed start", "err", err)
		}
	}
}
