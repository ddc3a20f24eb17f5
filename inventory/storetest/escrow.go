package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/inventory"
)

func (su suite) testEscrowStore(t *testing.T) {
	t.Run("RecoveryKeys", func(t *testing.T) {
		e := su.fresh(t)
		d := e.device("SN1")
		key := func(id, sealed string) inventory.EscrowedKey {
			return inventory.EscrowedKey{ProtectorID: id, Volume: "C:", Sealed: []byte(sealed)}
		}
		checkIn := func(at time.Duration, readable bool, keys ...inventory.EscrowedKey) {
			t.Helper()
			r := report("SN1")
			r.Hardware.Hostname = "h" + at.String() // a new hash each time
			if !readable {
				r.Posture.Encryption = &inventory.Encryption{UnknownReason: "no permission"}
			}
			c := inventory.CheckIn{DeviceID: d.ID, Hash: hashOf(r), Report: &r, At: t0.Add(at), RecoveryKeys: keys}
			if err := e.s.RecordCheckIn(e.ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		state := func() string {
			t.Helper()
			keys, err := e.s.FindRecoveryKeys(e.ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, k := range keys {
				s := k.ProtectorID + "=" + string(k.Sealed)
				if !k.RetiredAt.IsZero() {
					s += " retired"
				}
				if k.DeviceID != d.ID {
					t.Errorf("key %s belongs to device %s", k.ProtectorID, k.DeviceID)
				}
				parts = append(parts, s)
			}
			return strings.Join(parts, ", ")
		}
		equal(t, "no keys", state(), "")
		checkIn(time.Hour, true, key("{A}", "sealed-a1"), key("{B}", "sealed-b1"))
		equal(t, "two keys", state(), "{A}=sealed-a1, {B}=sealed-b1")
		checkIn(2*time.Hour, true, key("{A}", "sealed-a2"))
		equal(t, "B dropped by the agent", state(), "{A}=sealed-a2, {B}=sealed-b1 retired")
		checkIn(3*time.Hour, false)
		equal(t, "encryption unreadable retires nothing", state(), "{A}=sealed-a2, {B}=sealed-b1 retired")
		checkIn(4*time.Hour, true, key("{A}", "sealed-a2"), key("{B}", "sealed-b2"))
		equal(t, "B back", state(), "{A}=sealed-a2, {B}=sealed-b2")

		keys, _ := e.s.FindRecoveryKeys(e.ctx, d.ID)
		equal(t, "A first seen", keys[0].FirstSeenAt, ts(t0.Add(time.Hour)))
		equal(t, "A last seen", keys[0].LastSeenAt, ts(t0.Add(4*time.Hour)))
	})
}
