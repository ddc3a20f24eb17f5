// Package outbox is the agent's durable store on disk: the queue of events waiting to be sent,
// the report waiting to be sent, the hash of the last report the server accepted, and small
// key/value state such as the device ID.
//
// It is a single bbolt file. Every change is one bbolt transaction, committed and synced to disk
// before the method returns, so what a method reported done survives a crash or a power cut.
// bbolt locks the file, so only one agent process can have it open.
package outbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"google.golang.org/protobuf/proto"

	agentv1 "github.com/rollcall/rollcall/proto/agent/v1"
)

// DefaultMaxEvents is the bound on queued events when [Options.MaxEvents] is zero.
const DefaultMaxEvents = 10000

// openTimeout is how long Open waits for another process to release the file.
const openTimeout = time.Second

// Buckets and the keys of the state bucket.
var (
	// bucketEvents maps an 8-byte big-endian sequence number, in arrival order, to an encoded
	// agentv1.Event.
	bucketEvents = []byte("events")
	// bucketEventIDs maps an event ID to its sequence number in bucketEvents.
	bucketEventIDs = []byte("event_ids")
	// bucketState holds the outbox's own state under the keys below.
	bucketState = []byte("state")
	// bucketKV holds the caller's keys for Get and Put, apart from the outbox's own.
	bucketKV = []byte("kv")

	keyEventCount   = []byte("event_count")   // uint64: entries in bucketEvents
	keyDropped      = []byte("dropped")       // uint64: events dropped at the bound, ever
	keyReport       = []byte("report")        // encoded agentv1.Report pending
	keyReportHash   = []byte("report_hash")   // its hash
	keyCollectedAt  = []byte("collected_at")  // its collection time, time.Time.MarshalBinary
	keyAcceptedHash = []byte("accepted_hash") // hash of the last report the server accepted
)

// Outbox is the agent's durable queue of events and its pending report. It survives crashes and
// reboots: every method that changes it returns only after the change is committed to disk.
//
// An Outbox is safe for concurrent use by multiple goroutines.
type Outbox struct {
	db        *bolt.DB
	maxEvents int
}

// Options configures [Open].
type Options struct {
	MaxEvents int // bound on queued events; at the bound the oldest is dropped and counted. Zero means 10000.
}

// Open opens the outbox file at path, creating it with mode 0600 if it does not exist. If
// another process (or another Open in this process) has the file open, Open gives up after one
// second with the error "outbox <path> is in use by another agent process".
func Open(path string, opts Options) (*Outbox, error) {
	if opts.MaxEvents < 0 {
		return nil, fmt.Errorf("outbox: MaxEvents %d is negative", opts.MaxEvents)
	}
	maxEvents := opts.MaxEvents
	if maxEvents == 0 {
		maxEvents = DefaultMaxEvents
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("outbox %s is in use by another agent process", path)
	} else if err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketEvents, bucketEventIDs, bucketState, bucketKV} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		// The count is kept in step with the events in every transaction; recount in case the
		// file was written by something else.
		st := tx.Bucket(bucketState)
		if n := uint64(tx.Bucket(bucketEvents).Stats().KeyN); getUint(st, keyEventCount) != n {
			return putUint(st, keyEventCount, n)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	return &Outbox{db: db, maxEvents: maxEvents}, nil
}

// Close closes the file, releasing it for another process.
func (o *Outbox) Close() error {
	return o.db.Close()
}

// AddEvent queues e after the events already queued. e.Id must be a UUID. Adding an event whose
// ID is already queued does nothing. When [Options.MaxEvents] events are queued, the oldest is
// dropped to make room and counted in [Outbox.Dropped].
func (o *Outbox) AddEvent(e *agentv1.Event) error {
	if e == nil {
		return errors.New("outbox: add nil event")
	}
	if !validUUID(e.GetId()) {
		return fmt.Errorf("outbox: event ID %q is not a UUID", e.GetId())
	}
	value, err := proto.Marshal(e)
	if err != nil {
		return fmt.Errorf("outbox: encode event %s: %w", e.GetId(), err)
	}
	id := []byte(e.GetId())
	err = o.db.Update(func(tx *bolt.Tx) error {
		events, ids, st := tx.Bucket(bucketEvents), tx.Bucket(bucketEventIDs), tx.Bucket(bucketState)
		if seq := ids.Get(id); seq != nil && events.Get(seq) != nil {
			return nil // already queued
		}
		count, dropped := getUint(st, keyEventCount), getUint(st, keyDropped)
		for count >= uint64(o.maxEvents) {
			if err := dropOldest(events, ids); err != nil {
				return err
			}
			count--
			dropped++
		}
		n, err := events.NextSequence()
		if err != nil {
			return err
		}
		seq := binary.BigEndian.AppendUint64(nil, n)
		if err := events.Put(seq, value); err != nil {
			return err
		}
		if err := ids.Put(id, seq); err != nil {
			return err
		}
		if err := putUint(st, keyEventCount, count+1); err != nil {
			return err
		}
		return putUint(st, keyDropped, dropped)
	})
	if err != nil {
		return fmt.Errorf("outbox: add event %s: %w", e.GetId(), err)
	}
	return nil
}

// dropOldest deletes the first event and its ID.
func dropOldest(events, ids *bolt.Bucket) error {
	seq, value := events.Cursor().First()
	if seq == nil {
		return errors.New("event count is above zero but no events are stored")
	}
	seq = bytes.Clone(seq)
	var e agentv1.Event
	// An event that cannot be decoded leaves its ID behind, pointing at nothing; AddEvent and
	// AckEvents treat such an ID as absent.
	if proto.Unmarshal(value, &e) == nil {
		if err := ids.Delete([]byte(e.GetId())); err != nil {
			return err
		}
	}
	return events.Delete(seq)
}

// PendingEvents returns the queued events, oldest first, at most limit of them; a limit of zero
// or less returns them all.
func (o *Outbox) PendingEvents(limit int) ([]*agentv1.Event, error) {
	var out []*agentv1.Event
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for seq, value := c.First(); seq != nil && (limit <= 0 || len(out) < limit); seq, value = c.Next() {
			e := &agentv1.Event{}
			if err := proto.Unmarshal(value, e); err != nil {
				return fmt.Errorf("decode event %d: %w", binary.BigEndian.Uint64(seq), err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: pending events: %w", err)
	}
	return out, nil
}

// AckEvents removes the events with the given IDs, which the server has stored or refused for
// good, and returns how many it removed. IDs that are not queued are ignored.
func (o *Outbox) AckEvents(ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	removed := 0
	err := o.db.Update(func(tx *bolt.Tx) error {
		events, idx, st := tx.Bucket(bucketEvents), tx.Bucket(bucketEventIDs), tx.Bucket(bucketState)
		count := getUint(st, keyEventCount)
		for _, id := range ids {
			seq := idx.Get([]byte(id))
			if seq == nil {
				continue
			}
			seq = bytes.Clone(seq)
			if events.Get(seq) != nil {
				if err := events.Delete(seq); err != nil {
					return err
				}
				count--
				removed++
			}
			if err := idx.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return putUint(st, keyEventCount, count)
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: ack events: %w", err)
	}
	return removed, nil
}

// EventCount returns the number of queued events.
func (o *Outbox) EventCount() (int, error) {
	n, err := o.stateUint(keyEventCount)
	return int(n), err
}

// Dropped returns the number of events dropped at the bound since the outbox was created.
func (o *Outbox) Dropped() (uint64, error) {
	return o.stateUint(keyDropped)
}

// stateUint reads a counter from the state bucket.
func (o *Outbox) stateUint(key []byte) (uint64, error) {
	var n uint64
	err := o.db.View(func(tx *bolt.Tx) error {
		n = getUint(tx.Bucket(bucketState), key)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: read %s: %w", key, err)
	}
	return n, nil
}

// PutReport stores r, with its hash and the time it was collected, as the report to send,
// replacing any report pending.
func (o *Outbox) PutReport(r *agentv1.Report, hash string, collectedAt time.Time) error {
	if r == nil {
		return errors.New("outbox: put nil report")
	}
	if hash == "" {
		return errors.New("outbox: put report with empty hash")
	}
	value, err := proto.Marshal(r)
	if err != nil {
		return fmt.Errorf("outbox: encode report: %w", err)
	}
	at, err := collectedAt.MarshalBinary()
	if err != nil {
		return fmt.Errorf("outbox: encode collection time: %w", err)
	}
	err = o.db.Update(func(tx *bolt.Tx) error {
		st := tx.Bucket(bucketState)
		return errors.Join(
			st.Put(keyReport, value),
			st.Put(keyReportHash, []byte(hash)),
			st.Put(keyCollectedAt, at),
		)
	})
	if err != nil {
		return fmt.Errorf("outbox: put report: %w", err)
	}
	return nil
}

// PendingReport returns the report waiting to be sent, with its hash and collection time. ok is
// false when no report is pending.
func (o *Outbox) PendingReport() (r *agentv1.Report, hash string, collectedAt time.Time, ok bool, err error) {
	err = o.db.View(func(tx *bolt.Tx) error {
		st := tx.Bucket(bucketState)
		value := st.Get(keyReport)
		if value == nil {
			return nil
		}
		r = &agentv1.Report{}
		if err := proto.Unmarshal(value, r); err != nil {
			return fmt.Errorf("decode report: %w", err)
		}
		if err := collectedAt.UnmarshalBinary(st.Get(keyCollectedAt)); err != nil {
			return fmt.Errorf("decode collection time: %w", err)
		}
		hash = string(st.Get(keyReportHash))
		ok = true
		return nil
	})
	if err != nil {
		return nil, "", time.Time{}, false, fmt.Errorf("outbox: pending report: %w", err)
	}
	return r, hash, collectedAt, ok, nil
}

// AckReport records that the server accepted the report with the given hash: it becomes the
// [Outbox.AcceptedHash], and the pending report is cleared if it has that hash. A pending report
// with another hash, one collected after the acknowledged one was sent, stays pending.
func (o *Outbox) AckReport(hash string) error {
	if hash == "" {
		return errors.New("outbox: ack report with empty hash")
	}
	err := o.db.Update(func(tx *bolt.Tx) error {
		st := tx.Bucket(bucketState)
		if string(st.Get(keyReportHash)) == hash {
			if err := errors.Join(st.Delete(keyReport), st.Delete(keyReportHash), st.Delete(keyCollectedAt)); err != nil {
				return err
			}
		}
		return st.Put(keyAcceptedHash, []byte(hash))
	})
	if err != nil {
		return fmt.Errorf("outbox: ack report: %w", err)
	}
	return nil
}

// AcceptedHash returns the hash of the last report the server accepted, or "" if none was.
func (o *Outbox) AcceptedHash() (string, error) {
	var hash string
	err := o.db.View(func(tx *bolt.Tx) error {
		hash = string(tx.Bucket(bucketState).Get(keyAcceptedHash))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("outbox: accepted hash: %w", err)
	}
	return hash, nil
}

// Get returns a copy of the value stored under key by [Outbox.Put], or nil when there is none.
func (o *Outbox) Get(key string) ([]byte, error) {
	var value []byte
	err := o.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketKV).Get([]byte(key)); v != nil {
			value = bytes.Clone(v) // bbolt's slice is valid only inside the transaction
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: get %q: %w", key, err)
	}
	return value, nil
}

// Put stores value under key, for small state such as the device ID. A nil value deletes the
// key. The key must not be empty.
func (o *Outbox) Put(key string, value []byte) error {
	if key == "" {
		return errors.New("outbox: put with empty key")
	}
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKV)
		if value == nil {
			return b.Delete([]byte(key))
		}
		return b.Put([]byte(key), value)
	})
	if err != nil {
		return fmt.Errorf("outbox: put %q: %w", key, err)
	}
	return nil
}

// getUint reads a big-endian uint64 from b, zero when absent.
func getUint(b *bolt.Bucket, key []byte) uint64 {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// putUint writes n to b as a big-endian uint64.
func putUint(b *bolt.Bucket, key []byte, n uint64) error {
	return b.Put(key, binary.BigEndian.AppendUint64(nil, n))
}

// validUUID reports whether s is a UUID in its canonical text form, 8-4-4-4-12 hex digits.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
