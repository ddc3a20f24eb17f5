// Package loadgen simulates a fleet of Rollcall agents against real
// servers, to measure what the agent API absorbs.
//
// Every simulated agent has its own ECDSA P-256 key and a client
// certificate from the server's CA, and every call is real gRPC over
// mutual TLS with that certificate, the server verified by its CA. A
// fleet is made once and kept in one file (see [Fleet.Save]), so several
// runs reuse one enrolment:
//
//   - [Enroll] is the real path: each agent makes its key and
//     certificate request and calls Enroll over TLS with an enrolment
//     token, as the agent does, with bounded concurrency.
//   - [BulkEnroll] is the bulk path, for 100,000 agents in minutes: each
//     agent still makes its own key and certificate request, signed by
//     the server's CA with [pki.CA.IssueClient], but the device is stored
//     directly through [inventory.EnrollmentStore.EnrollDevice], next to or
//     inside the server process, with the server's data directory and
//     database. It skips the network, the per-device audit entry and the
//     token check of the Enroll call; the caller audits the whole load.
//
// Every agent reports the same kind of Windows 11 laptop, with its own
// serial number, host name and MAC addresses; about one in three has
// BitLocker off and one in five has antivirus definitions ten days old,
// so verdicts vary as in a real school.
//
// [Run] sends one [Scenario] across the fleet: heartbeats (the report
// hash only), changed full reports, USB events, or a boot storm of one
// full report from every agent. It runs open loop at a rate (requests are
// due at fixed times whether or not earlier ones finished, and latency is
// counted from when each was due, so overload shows as latency rather
// than as a slower offered rate) or closed loop with a number of workers
// ("max"). Each agent keeps its own connection, or a bounded pool of live
// connections is kept, least recently used first out, and every TLS
// handshake is counted. Traffic goes only to the addresses given, and
// only to loopback ones unless remote addresses are allowed.
//
// The [Result] counts requests, failures by gRPC code and message,
// throughput, latency percentiles (every latency is kept, so they are
// exact) and handshakes, as text or JSON.
package loadgen
