// Package storetest is the conformance suite for [inventory.Store]
// backends. Each backend's tests call [Run] with a function that opens a
// fresh, empty store:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) inventory.Store {
//			return MustOpenDB(t)
//		})
//	}
//
// Every subtest opens its own store and runs in parallel with the others,
// so open must return a store that shares nothing with earlier ones and
// must close it when the test ends (with t.Cleanup). The store must also
// implement [RawExecer], so that the suite can check what the database
// itself refuses.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rollcall/rollcall/inventory"
)

// Run runs the conformance suite against the stores that open returns.
func Run(t *testing.T, open func(t *testing.T) inventory.Store) {
	su := suite{open: open}
	t.Run("SchoolStore", su.testSchoolStore)
	t.Run("EnrollmentStore", su.testEnrollmentStore)
	t.Run("DeviceStore", su.testDeviceStore)
	t.Run("EventStore", su.testEventStore)
	t.Run("EscrowStore", su.testEscrowStore)
	t.Run("UserStore", su.testUserStore)
	t.Run("Invites", su.testInvites)
	t.Run("SessionStore", su.testSessionStore)
	t.Run("AuditStore", su.testAuditStore)
	t.Run("Dashboard", su.testDashboard)
	t.Run("RegisterStore", su.testRegisterStore)
	t.Run("LoanStore", su.testLoanStore)
	t.Run("AgreementStore", su.testAgreementStore)
	t.Run("SignOutStore", su.testSignOutStore)
	t.Run("PINStore", su.testPINStore)
	t.Run("DisposalStore", su.testDisposalStore)
	t.Run("ExitStore", su.testExitStore)
	t.Run("RetentionStore", su.testRetentionStore)
	t.Run("Time", su.testTime)
}

// suite holds the function that opens a store.
type suite struct {
	open func(t *testing.T) inventory.Store
}

// env is one subtest's fresh store with helpers that fail the test on error.
type env struct {
	t   *testing.T
	ctx context.Context
	s   inventory.Store
}

// fresh marks t parallel and opens a new store for it.
func (su suite) fresh(t *testing.T) *env {
	t.Helper()
	t.Parallel()
	s := su.open(t)
	if s == nil {
		t.Fatal("open returned a nil store")
	}
	return &env{t: t, ctx: t.Context(), s: s}
}

// t0 is the base time of the tests. It has nanoseconds, which the stores
// drop.
var t0 = time.Date(2025, 9, 1, 8, 30, 0, 123456789, time.UTC)

// ts returns t as a store reads it back: UTC, truncated to microseconds.
func ts(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func (e *env) school(slug string) *inventory.School {
	e.t.Helper()
	s := &inventory.School{Slug: slug, Name: "School " + slug}
	if err := e.s.CreateSchool(e.ctx, s); err != nil {
		e.t.Fatalf("CreateSchool(%s): %v", slug, err)
	}
	return s
}

// secret returns a random enrolment secret's hash.
func secret() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	h := sha256.Sum256(b)
	return h[:]
}

// token creates an enrolment token for school that allows maxUses uses
// and expires a day after t0.
func (e *env) token(school uuid.UUID, maxUses int) *inventory.EnrollToken {
	e.t.Helper()
	tok := &inventory.EnrollToken{
		SchoolID:   school,
		SecretHash: secret(),
		MaxUses:    maxUses,
		ExpiresAt:  t0.Add(24 * time.Hour),
		CreatedAt:  t0.Add(-time.Hour),
	}
	if err := e.s.CreateEnrollToken(e.ctx, tok); err != nil {
		e.t.Fatalf("CreateEnrollToken: %v", err)
	}
	return tok
}

// report returns a plausible first report of a laptop.
func report(serial string) inventory.Report {
	return inventory.Report{
		Hardware: inventory.Hardware{
			Make:          "Dell Inc.",
			Model:         "Latitude 3440",
			Serial:        serial,
			ChassisType:   "laptop",
			Hostname:      "lab-" + strings.ToLower(serial),
			OSName:        "Windows 11 Pro",
			OSVersion:     "10.0.22631",
			Arch:          "amd64",
			OSInstallDate: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
			CPUModel:      "Intel(R) Core(TM) i5-1335U",
			CPUCores:      10,
			MemoryBytes:   16 << 30,
			Disks:         []inventory.Disk{{Name: "nvme0", Model: "PM9B1", Serial: "S6X", SizeBytes: 512 << 30}},
			MACAddresses:  []string{"00:11:22:33:44:55"},
			LoggedInUser:  "pupil1",
			AgentVersion:  "1.0.0",
		},
		Posture: inventory.Posture{
			Antivirus: &inventory.Antivirus{Products: []inventory.AntivirusProduct{{
				Name: "Microsoft Defender", Source: "defender", Enabled: true, UpToDate: true,
				SignatureUpdated: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), RealTimeProtection: &yes,
			}}},
			Encryption: &inventory.Encryption{Volumes: []inventory.Volume{{
				Name: "C:", MountPoint: "C:\\", OSVolume: true, State: inventory.VolumeEncrypted, Protection: "on",
				EncryptionPercent: 100, Method: "XTS-AES 128", KeyProtectors: []string{"tpm", "numerical_password"},
			}}},
			ScreenLock: &inventory.ScreenLock{IdleLockSeconds: 300, PasswordOnWake: true,
				Settings: []inventory.ScreenLockSetting{{Name: "InactivityTimeoutSecs", Value: "300", Source: "policy"}}},
			USB: &inventory.USB{UnknownReason: "timed out"},
		},
	}
}

// yes is true, to point at.
var yes = true

// hashOf returns the hex SHA-256 of v's JSON, as an agent would hash its
// report.
func hashOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// enrollRequest returns a request to enrol a device with serial using tok.
func enrollRequest(tok *inventory.EnrollToken, serial string) *inventory.EnrollRequest {
	r := report(serial)
	return &inventory.EnrollRequest{
		TokenID:    tok.ID,
		SecretHash: tok.SecretHash,
		Report:     r,
		ReportHash: hashOf(r),
		Enrollment: inventory.Enrollment{
			ID:           uuid.Must(uuid.NewV7()),
			CertSerial:   hex.EncodeToString(secret()[:16]),
			CertNotAfter: t0.Add(90 * 24 * time.Hour),
		},
		At: t0,
	}
}

// enroll enrols a device with serial using tok.
func (e *env) enroll(tok *inventory.EnrollToken, serial string) (*inventory.Device, *inventory.EnrollRequest) {
	e.t.Helper()
	r := enrollRequest(tok, serial)
	d, err := e.s.EnrollDevice(e.ctx, r)
	if err != nil {
		e.t.Fatalf("EnrollDevice(%s): %v", serial, err)
	}
	return d, r
}

// device enrols a device with serial in a new school with a new token.
func (e *env) device(serial string) *inventory.Device {
	e.t.Helper()
	sc := e.school("school-" + strings.ToLower(serial))
	d, _ := e.enroll(e.token(sc.ID, 1), serial)
	return d
}

func (e *env) findDevice(id uuid.UUID) *inventory.Device {
	e.t.Helper()
	d, err := e.s.FindDeviceByID(e.ctx, id)
	if err != nil {
		e.t.Fatalf("FindDeviceByID: %v", err)
	}
	return d
}

func (e *env) findToken(id uuid.UUID) *inventory.EnrollToken {
	e.t.Helper()
	tok, err := e.s.FindEnrollTokenByID(e.ctx, id)
	if err != nil {
		e.t.Fatalf("FindEnrollTokenByID: %v", err)
	}
	return tok
}

// allDevices returns every device in the store.
func (e *env) allDevices() []*inventory.Device {
	e.t.Helper()
	ds, err := e.s.FindDevices(e.ctx, inventory.DeviceFilter{Limit: inventory.MaxPageSize})
	if err != nil {
		e.t.Fatalf("FindDevices: %v", err)
	}
	return ds
}

// wantCode fails the test unless err has the domain code want ("" for nil).
func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := inventory.ErrorCode(err); got != want {
		t.Fatalf("error code = %q, want %q (error: %v)", got, want, err)
	}
}

// wantMessage fails the test unless err's message contains each of parts.
func wantMessage(t *testing.T, err error, parts ...string) {
	t.Helper()
	msg := inventory.ErrorMessage(err)
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error message %q does not mention %q", msg, p)
		}
	}
}

// equal fails the test unless got and want are deeply equal.
func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got: %s\nwant: %s", what, dump(got), dump(want))
	}
}

func dump(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

// wantV7 fails the test unless id is a UUIDv7.
func wantV7(t *testing.T, what string, id uuid.UUID) {
	t.Helper()
	if id.Version() != 7 {
		t.Errorf("%s = %s, want a UUIDv7", what, id)
	}
}
