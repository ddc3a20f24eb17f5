// Package inventory holds Rollcall's domain: schools, devices, agent
// enrolments, posture snapshots, events, people and their roles, and the
// small store interfaces that the backends in [inventory/postgres] and
// [inventory/sqlite] implement.
//
// The package imports only the standard library and github.com/google/uuid.
// Transports (gRPC, HTTP) convert their own types to and from these at their
// edge, and business rules live here rather than in SQL.
package inventory
