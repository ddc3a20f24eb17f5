// Package grpcapi serves the agent API over gRPC with mutual TLS. It is the
// only place where agent protocol messages are converted to and from the
// domain in [inventory].
package grpcapi

//go:generate sh -c "cd ../../proto && buf generate"

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rollcall/rollcall/inventory"
	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
	"github.com/rollcall/rollcall/server/pki"
	"github.com/rollcall/rollcall/server/vault"
)

// DefaultCheckInInterval is how often agents check in unless told otherwise.
const DefaultCheckInInterval = 5 * time.Minute

// Server implements [agentv1.AgentServiceServer].
type Server struct {
	agentv1.UnimplementedAgentServiceServer

	logger   *slog.Logger
	store    inventory.Store
	ca       *pki.CA
	vault    *vault.Vault
	interval time.Duration
	metrics  *metrics
	// superseded holds the IDs of renewal enrolments whose predecessors
	// this process has already revoked, so that is done once each.
	superseded sync.Map
	// verified remembers the client certificates this CA's signature has
	// been checked on (see verifyClient).
	verified verifiedCerts
	// Concurrent calls' reads and writes are done together (see batcher).
	enrollments *batcher[uuid.UUID, *inventory.Enrollment]
	heartbeats  *batcher[inventory.CheckIn, error]
	reports     *batcher[inventory.CheckIn, error]

	// Now returns the current time; tests replace it.
	Now func() time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithCheckInInterval sets the interval the server asks agents to keep.
func WithCheckInInterval(d time.Duration) Option { return func(s *Server) { s.interval = d } }

// WithMetrics registers the server's metrics with reg.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(s *Server) { s.metrics = newMetrics(reg) }
}

// New returns an agent API server. It seals recovery keys with v. It
// panics if a dependency is nil.
func New(logger *slog.Logger, store inventory.Store, ca *pki.CA, v *vault.Vault, opts ...Option) *Server {
	if logger == nil || store == nil || ca == nil || v == nil {
		panic("grpcapi.New: nil dependency")
	}
	s := &Server{
		logger:   logger.With("component", "agentapi"),
		store:    store,
		ca:       ca,
		vault:    v,
		interval: DefaultCheckInInterval,
		Now:      time.Now,
	}
	s.enrollments = newBatcher(maxEnrollmentBatch, enrollmentBatches, s.findEnrollments)
	s.heartbeats = newBatcher(maxHeartbeatBatch, heartbeatBatches, store.RecordHeartbeats)
	s.reports = newBatcher(maxReportBatch, reportBatches, s.recordReports)
	for _, o := range opts {
		o(s)
	}
	if s.metrics == nil {
		s.metrics = newMetrics(nil)
	}
	return s
}

// NewGRPCServer returns a gRPC server with the agent API registered, using
// cert for its TLS identity. Clients may present a certificate; the
// authentication interceptor decides which calls need one, so that a bad
// certificate is answered with Unauthenticated and a message saying why.
func (s *Server) NewGRPCServer(cert tls.Certificate) *grpc.Server {
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	g := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(cfg)),
		grpc.ChainUnaryInterceptor(s.observe, s.authenticate),
		grpc.MaxRecvMsgSize(4<<20),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 30 * time.Second, PermitWithoutStream: true}),
	)
	agentv1.RegisterAgentServiceServer(g, s)
	return g
}

type ctxKey struct{}

// caller is the enrolment an authenticated call was made with.
type caller struct {
	enrollment *inventory.Enrollment
}

// authenticate requires a valid, unrevoked client certificate from this
// CA on every call except Enroll. It is the one place agent identity is
// established.
func (s *Server) authenticate(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if info.FullMethod == agentv1.AgentService_Enroll_FullMethodName {
		return handler(ctx, req)
	}
	e, err := s.enrollmentOf(ctx)
	if err != nil {
		return nil, err
	}
	return handler(context.WithValue(ctx, ctxKey{}, caller{enrollment: e}), req)
}

// enrollmentOf checks the peer's client certificate and returns its
// enrolment, or an Unauthenticated status saying what is wrong.
func (s *Server) enrollmentOf(ctx context.Context) (*inventory.Enrollment, error) {
	cert, err := peerCertificate(ctx)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	if err := s.verifyClient(cert, now); err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	id, err := uuid.Parse(cert.Subject.CommonName)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "client certificate does not name an enrolment")
	}
	e, err := s.enrollments.run(ctx, id)
	if err == nil && e == nil {
		err = inventory.Errorf(inventory.ENOTFOUND, "enrolment %s not found", id)
	}
	switch {
	case inventory.ErrorCode(err) == inventory.ENOTFOUND:
		return nil, status.Error(codes.Unauthenticated, "client certificate's enrolment is not known to this server")
	case err != nil:
		return nil, toStatus(ctx, s.logger, "authenticate", err)
	case e.CertSerial != pki.SerialHex(cert):
		return nil, status.Error(codes.Unauthenticated, "client certificate does not match its enrolment")
	}
	if err := e.Active(now); err != nil {
		return nil, status.Error(codes.Unauthenticated, inventory.ErrorMessage(err))
	}
	if e.TokenID == uuid.Nil {
		s.supersede(ctx, e, now)
	}
	return e, nil
}

// supersede revokes the certificates a renewal replaced, the first time
// this process sees the renewal used. Until the agent uses its new
// certificate the old one stays valid, so a lost renewal reply costs
// nothing; once it has, a copy of the old certificate is worthless. A
// failure is logged and retried on the next call.
func (s *Server) supersede(ctx context.Context, e *inventory.Enrollment, now time.Time) {
	if _, done := s.superseded.Load(e.ID); done {
		return
	}
	n, err := s.store.SupersedeEnrollments(ctx, e.ID, now)
	if err != nil {
		s.logger.ErrorContext(ctx, "revoke replaced certificates", "enrollment_id", e.ID, "err", err)
		return
	}
	s.superseded.Store(e.ID, struct{}{})
	if n > 0 {
		s.logger.InfoContext(ctx, "replaced certificates revoked", "device_id", e.DeviceID, "enrollment_id", e.ID, "revoked", n)
	}
}

func peerCertificate(ctx context.Context) (*x509.Certificate, error) {
	p, ok := peerFromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no TLS connection")
	}
	if len(p.State.PeerCertificates) == 0 {
		return nil, status.Error(codes.Unauthenticated, "a client certificate is required: enrol this device first")
	}
	return p.State.PeerCertificates[0], nil
}

func callerOf(ctx context.Context) caller {
	c, _ := ctx.Value(ctxKey{}).(caller)
	return c
}

// Enroll implements [agentv1.AgentServiceServer].
func (s *Server) Enroll(ctx context.Context, req *agentv1.EnrollRequest) (*agentv1.EnrollResponse, error) {
	const method = "Enroll"
	tokenID, err := uuid.Parse(req.GetTokenId())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "token_id: not a UUID: check that the whole enrolment token was copied")
	}
	if req.GetReport() == nil {
		return nil, status.Error(codes.InvalidArgument, "report: missing")
	}
	if err := checkHash(req.GetReportHash()); err != nil {
		return nil, toStatus(ctx, s.logger, method, err)
	}
	report, err := reportFromProto(req.GetReport())
	if err != nil {
		return nil, toStatus(ctx, s.logger, method, err)
	}
	now := s.Now()
	secretHash := sha256.Sum256(req.GetSecret())
	// Check the token before signing anything, so a caller without one
	// cannot make the server do a signature's work. EnrollDevice checks
	// it again in the transaction that counts the use.
	tok, err := s.store.FindEnrollTokenByID(ctx, tokenID)
	if err == nil {
		err = tok.Usable(secretHash[:], now)
	}
	if err != nil {
		return nil, s.enrolRefused(ctx, err)
	}
	enrollmentID, err := uuid.NewV7()
	if err != nil {
		return nil, toStatus(ctx, s.logger, method, err)
	}
	cert, err := s.ca.IssueClient(req.GetCsrDer(), enrollmentID.String(), now)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "csr_der: %v", err)
	}
	sealed, err := s.seal(report.RecoveryKeys)
	if err != nil {
		return nil, toStatus(ctx, s.logger, method, err)
	}
	er := &inventory.EnrollRequest{
		RecoveryKeys: sealed,
		TokenID:      tokenID,
		SecretHash:   secretHash[:],
		Report:       report,
		ReportHash:   req.GetReportHash(),
		Enrollment:   inventory.Enrollment{ID: enrollmentID, CertSerial: pki.SerialHex(cert), CertNotAfter: cert.NotAfter},
		At:           now,
	}
	if er.Verdict, err = s.judge(ctx, tok.SchoolID, &report, now); err != nil {
		return nil, toStatus(ctx, s.logger, method, err)
	}
	dev, err := s.store.EnrollDevice(ctx, er)
	if err != nil {
		return nil, s.enrolRefused(ctx, err)
	}
	s.metrics.enrolments.WithLabelValues("ok").Inc()
	s.auditEnrolment(ctx, dev, tokenID, pki.SerialHex(cert), now)
	s.logger.InfoContext(ctx, "device enrolled", "device_id", dev.ID, "school_id", dev.SchoolID, "enrollment_id", enrollmentID, "hostname", dev.Hostname)
	return &agentv1.EnrollResponse{
		DeviceId:            dev.ID.String(),
		CertificateDer:      cert.Raw,
		CaCertificateDer:    s.ca.Cert.Raw,
		CertificateNotAfter: timestamppb.New(cert.NotAfter),
		CheckInInterval:     durationpb.New(s.interval),
	}, nil
}

// auditEnrolment records a use of an enrolment token in the audit log.
// The enrolment is stored already, so a failure is logged, not returned.
func (s *Server) auditEnrolment(ctx context.Context, dev *inventory.Device, tokenID uuid.UUID, certSerial string, now time.Time) {
	addr := ""
	if p, ok := peer.FromContext(ctx); ok {
		if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
			addr = host
		}
	}
	e := &inventory.AuditEntry{
		At: now, Actor: "agent", SchoolID: dev.SchoolID, Action: "device.enroll", Record: "device/" + dev.ID.String(), Addr: addr,
		Detail: fmt.Sprintf("%s (serial %s) enrolled with token %s; certificate %s", dev.Hostname, dev.Serial, tokenID, certSerial),
	}
	e.Fit()
	err := s.store.AppendAudit(ctx, e)
	if err != nil {
		s.logger.ErrorContext(ctx, "write audit entry", "action", "device.enroll", "err", err)
	}
}

// judge returns the verdict on report r under the policy of its school,
// for a device seeing the server at now.
func (s *Server) judge(ctx context.Context, schoolID uuid.UUID, r *inventory.Report, now time.Time) (inventory.Verdict, error) {
	sc, err := s.store.FindSchoolByID(ctx, schoolID)
	if err != nil {
		return inventory.Verdict{}, err
	}
	return inventory.JudgeVerdict(sc.Policy, &r.Posture, now, now), nil
}

// seal seals recovery keys for escrow. The password is bound to its
// protector ID, so a sealed value moved to another protector's row does
// not open.
func (s *Server) seal(keys []inventory.RecoveryKey) ([]inventory.EscrowedKey, error) {
	out := make([]inventory.EscrowedKey, 0, len(keys))
	for _, k := range keys {
		sealed, err := s.vault.Seal([]byte(k.NumericalPassword), vault.RecoveryKeyContext(k.ProtectorID))
		if err != nil {
			return nil, fmt.Errorf("seal recovery key: %w", err)
		}
		out = append(out, inventory.EscrowedKey{ProtectorID: k.ProtectorID, Volume: k.Volume, Sealed: sealed})
	}
	return out, nil
}

// enrolRefused counts a refused enrolment and returns its status; an
// unknown token is refused as unauthorised.
func (s *Server) enrolRefused(ctx context.Context, err error) error {
	if inventory.ErrorCode(err) == inventory.ENOTFOUND {
		err = inventory.Errorf(inventory.EUNAUTHORIZED, "enrolment token is not known to this server")
	}
	s.metrics.enrolments.WithLabelValues(inventory.ErrorCode(err)).Inc()
	return toStatus(ctx, s.logger, "Enroll", err)
}

// CheckIn implements [agentv1.AgentServiceServer].
func (s *Server) CheckIn(ctx context.Context, req *agentv1.CheckInRequest) (*agentv1.CheckInResponse, error) {
	const method = "CheckIn"
	if err := checkHash(req.GetReportHash()); err != nil {
		return nil, toStatus(ctx, s.logger, method, err)
	}
	c := inventory.CheckIn{
		DeviceID: callerOf(ctx).enrollment.DeviceID,
		Hash:     req.GetReportHash(),
		At:       s.Now(),
	}
	kind := "heartbeat"
	if req.GetReport() != nil {
		kind = "report"
		r, err := reportFromProto(req.GetReport())
		if err != nil {
			return nil, toStatus(ctx, s.logger, method, err)
		}
		c.Report = &r
		if c.RecoveryKeys, err = s.seal(r.RecoveryKeys); err != nil {
			return nil, toStatus(ctx, s.logger, method, err)
		}
		if c.Verdict, err = s.judge(ctx, callerOf(ctx).enrollment.SchoolID, &r, c.At); err != nil {
			return nil, toStatus(ctx, s.logger, method, err)
		}
	}
	resp := &agentv1.CheckInResponse{CheckInInterval: durationpb.New(s.interval)}
	batch := s.heartbeats
	if c.Report != nil {
		batch = s.reports
	}
	stored, err := batch.run(ctx, c)
	if err == nil {
		err = stored // this check-in's own result
	}
	switch inventory.ErrorCode(err) {
	case "":
	case inventory.EREPORTREQUIRED:
		resp.ReportRequired = true
		kind = "report_required"
	default:
		return nil, toStatus(ctx, s.logger, method, err)
	}
	s.metrics.checkIns.WithLabelValues(kind).Inc()
	return resp, nil
}

// SendEvents implements [agentv1.AgentServiceServer].
func (s *Server) SendEvents(ctx context.Context, req *agentv1.SendEventsRequest) (*agentv1.SendEventsResponse, error) {
	const method = "SendEvents"
	if n := len(req.GetEvents()); n > inventory.MaxEventsPerCall {
		return nil, status.Errorf(codes.InvalidArgument, "events: %d is more than the limit of %d per call", n, inventory.MaxEventsPerCall)
	}
	// A bad event must not hold back the good ones queued behind it: store
	// the valid events and name the others, which the agent then drops.
	events := make([]*inventory.Event, 0, len(req.GetEvents()))
	resp := &agentv1.SendEventsResponse{AcknowledgedIds: make([]string, 0, len(req.GetEvents()))}
	for _, pe := range req.GetEvents() {
		e, err := eventFromProto(pe)
		if err != nil {
			resp.Rejected = append(resp.Rejected, &agentv1.RejectedEvent{Id: truncate(pe.GetId()), Reason: inventory.ErrorMessage(err)})
			continue
		}
		events = append(events, e)
		resp.AcknowledgedIds = append(resp.AcknowledgedIds, pe.GetId())
	}
	device := callerOf(ctx).enrollment.DeviceID
	if len(resp.Rejected) > 0 {
		s.metrics.eventsRejected.Add(float64(len(resp.Rejected)))
		s.logger.WarnContext(ctx, "events rejected", "device_id", device, "count", len(resp.Rejected), "first_reason", resp.Rejected[0].GetReason())
	}
	n, err := s.store.AppendEvents(ctx, device, events, s.Now())
	if err != nil {
		return nil, toStatus(ctx, s.logger, method, err)
	}
	s.metrics.events.Add(float64(n))
	resp.Stored = uint32(n)
	return resp, nil
}

// RenewCertificate implements [agentv1.AgentServiceServer]. The new
// certificate is a new enrolment of the same device. The old certificate
// stays valid until the new one is first used (see supersede), so an
// agent that loses the reply can retry.
func (s *Server) RenewCertificate(ctx context.Context, req *agentv1.RenewCertificateRequest) (*agentv1.RenewCertificateResponse, error) {
	const method = "RenewCertificate"
	old := callerOf(ctx).enrollment
	id, err := uuid.NewV7()
	if err != nil {
		return nil, toStatus(ctx, s.logger, method, err)
	}
	now := s.Now()
	cert, err := s.ca.IssueClient(req.GetCsrDer(), id.String(), now)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "csr_der: %v", err)
	}
	e := &inventory.Enrollment{
		ID:           id,
		DeviceID:     old.DeviceID,
		SchoolID:     old.SchoolID,
		CertSerial:   pki.SerialHex(cert),
		CertNotAfter: cert.NotAfter,
		CreatedAt:    now,
	}
	if err := s.store.CreateEnrollment(ctx, e); err != nil {
		return nil, toStatus(ctx, s.logger, method, err)
	}
	s.logger.InfoContext(ctx, "certificate renewed", "device_id", old.DeviceID, "enrollment_id", id)
	return &agentv1.RenewCertificateResponse{
		CertificateDer:      cert.Raw,
		CertificateNotAfter: timestamppb.New(cert.NotAfter),
	}, nil
}

// checkHash returns an EINVALID error unless h is a hex SHA-256.
func checkHash(h string) error {
	if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
		return inventory.Errorf(inventory.EINVALID, "report_hash: must be 64 hex digits")
	}
	return nil
}
