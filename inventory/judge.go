package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// JudgeStore is what [Rejudge] needs of a store.
type JudgeStore interface {
	DeviceStore
	SchoolStore
}

// Rejudge judges again, under its school's current policy at now, every
// device of the school that is due ([DeviceFilter.DueBy]): never judged
// (after an upgrade, when devices only send heartbeats), its antivirus
// definitions gone past the age limit since its last report, or its
// school's policy changed. It stores their verdicts and returns how many
// it judged.
func Rejudge(ctx context.Context, s JudgeStore, schoolID uuid.UUID, now time.Time) (int, error) {
	sc, err := s.FindSchoolByID(ctx, schoolID)
	if err != nil {
		return 0, err
	}
	f := DeviceFilter{SchoolIDs: []uuid.UUID{schoolID}, DueBy: now, Limit: MaxPageSize}
	n := 0
	for {
		devices, err := s.FindDevices(ctx, f)
		if err != nil {
			return n, err
		}
		for _, d := range devices {
			var p *Posture
			snap, err := s.FindLatestPosture(ctx, d.ID)
			switch ErrorCode(err) {
			case "":
				p = &snap.Posture
			case ENOTFOUND:
			default:
				return n, err
			}
			if err := s.SetDeviceVerdict(ctx, d.ID, JudgeVerdict(sc.Policy, p, d.LastSeenAt, now)); err != nil {
				return n, err
			}
			n++
		}
		if len(devices) < f.PageLimit() {
			return n, nil
		}
		// A device judged now is no longer due, so the ID order moves on.
		f.After = devices[len(devices)-1].ID
	}
}

// HistoryStore is what [RecordComplianceDays] needs of a store.
type HistoryStore interface {
	DeviceStore
	SchoolStore
	ComplianceHistoryStore
}

// RecordComplianceDays stores today's compliance counts of every school,
// for the overview's chart. The server calls it every few minutes, so the
// last call of a day leaves that day's figures.
func RecordComplianceDays(ctx context.Context, s HistoryStore, now time.Time) error {
	schools, err := s.FindSchools(ctx)
	if err != nil {
		return err
	}
	counts, err := s.CountDevicesBySchool(ctx, DeviceFilter{}, now)
	if err != nil {
		return fmt.Errorf("count devices: %w", err)
	}
	day := now.UTC().Truncate(24 * time.Hour)
	for _, sc := range schools {
		c := counts[sc.ID] // zero for a school without devices
		d := ComplianceDay{SchoolID: sc.ID, Day: day, Devices: c.Total, Compliant: c.Compliant, Noncompliant: c.Noncompliant, Unknown: c.Unknown}
		if err := s.RecordComplianceDay(ctx, d); err != nil {
			return fmt.Errorf("record compliance of %s: %w", sc.Slug, err)
		}
	}
	return nil
}
