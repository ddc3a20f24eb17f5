package grpcapi

import (
	"context"
	"crypto/tls"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// metrics are the agent API's Prometheus metrics.
type metrics struct {
	calls      *prometheus.HistogramVec
	enrolments *prometheus.CounterVec
	checkIns   *prometheus.CounterVec
	events     prometheus.Counter
	// eventsRejected counts events refused as invalid and dropped by the agent.
	eventsRejected prometheus.Counter
}

// newMetrics makes the metrics and registers them with reg when it is not nil.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rollcall_agent_rpc_duration_seconds",
			Help:    "Time to answer an agent API call, by method and gRPC code.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"method", "code"}),
		enrolments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_enrolments_total",
			Help: "Enrolment attempts, by result.",
		}, []string{"result"}),
		checkIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rollcall_check_ins_total",
			Help: "Agent check-ins, by kind: heartbeat, report or report_required.",
		}, []string{"kind"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_events_stored_total",
			Help: "Device events stored (retries of stored events are not counted).",
		}),
		eventsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rollcall_events_rejected_total",
			Help: "Device events refused as invalid; the agent drops them.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.enrolments, m.checkIns, m.events, m.eventsRejected)
	}
	return m
}

// observe records each call's duration and result code.
func (s *Server) observe(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	code := status.Code(err)
	s.metrics.calls.WithLabelValues(info.FullMethod, code.String()).Observe(time.Since(start).Seconds())
	return resp, err
}

// peerFromContext is peer.FromContext with the TLS state unpacked.
func peerFromContext(ctx context.Context) (tlsPeer, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return tlsPeer{}, false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return tlsPeer{}, false
	}
	return tlsPeer{State: info.State}, true
}

type tlsPeer struct{ State tls.ConnectionState }
