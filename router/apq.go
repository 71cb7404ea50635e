package router

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sync"

	"github.com/heraldhq/herald/router/internal/gqlwire"
)

// Automatic Persisted Queries (Apollo's APQ protocol): a client sends
// extensions.persistedQuery {version: 1, sha256Hash} without the query; the
// router answers PERSISTED_QUERY_NOT_FOUND when it does not know the hash,
// the client repeats the request with the query, and the router stores it
// (after checking the hash) for the next time. It saves clients sending long
// queries again and again, and lets GET requests with a short URL be cached.

// APQ errors carry gqlwire's CodePersistedQuery* codes. Clients react to the
// message of NOT_FOUND and NOT_SUPPORTED as well, so those are kept verbatim.

// persistedQuery is extensions.persistedQuery of one request.
type persistedQuery struct {
	present bool
	version int64
	hash    string
}

// apqStore is a least-recently-used store of queries by SHA-256 hash, bounded
// by the bytes it holds (a count alone would let a few huge queries pin
// memory).
type apqStore struct {
	mu       sync.Mutex
	maxBytes int
	bytes    int
	order    *list.List // front = most recently used; values are *apqEntry
	byHash   map[string]*list.Element
}

type apqEntry struct {
	hash, query string
}

// entryOverhead approximates what an entry costs beside its two strings.
const entryOverhead = 128

func newAPQStore(maxBytes int) *apqStore {
	return &apqStore{maxBytes: maxBytes, order: list.New(), byHash: make(map[string]*list.Element)}
}

func (e *apqEntry) size() int { return len(e.hash) + len(e.query) + entryOverhead }

func (s *apqStore) get(hash string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byHash[hash]
	if !ok {
		return "", false
	}
	s.order.MoveToFront(el)
	return el.Value.(*apqEntry).query, true
}

func (s *apqStore) put(hash, query string) {
	e := &apqEntry{hash: hash, query: query}
	if e.size() > s.maxBytes {
		return // would evict everything else
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byHash[hash]; ok {
		s.order.MoveToFront(el)
		return
	}
	s.byHash[hash] = s.order.PushFront(e)
	s.bytes += e.size()
	for s.bytes > s.maxBytes {
		last := s.order.Back()
		old := last.Value.(*apqEntry)
		s.order.Remove(last)
		delete(s.byHash, old.hash)
		s.bytes -= old.size()
	}
}

func (s *apqStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order.Len()
}

// sha256Hex is the hash APQ clients send: lower-case hex of the query text.
func sha256Hex(query string) string {
	sum := sha256.Sum256([]byte(query))
	return hex.EncodeToString(sum[:])
}

// resolvePersisted applies the APQ protocol to a request: it fills query
// from the store, or stores query under its hash. store is nil when APQ is
// off. The returned outcome ("hit", "miss", "stored" or "") feeds metrics.
func resolvePersisted(store *apqStore, pq persistedQuery, query *string) (outcome string, e *errorResponse) {
	if !pq.present {
		return "", nil
	}
	if store == nil {
		if *query != "" {
			return "", nil // the query is there: run it, ignore the hash
		}
		return "", &errorResponse{http.StatusBadRequest, gqlwire.CodePersistedQueryNotSupported, "PersistedQueryNotSupported"}
	}
	if pq.version != 1 {
		return "", &errorResponse{http.StatusBadRequest, gqlwire.CodePersistedQueryNotSupported, "PersistedQueryNotSupported: only version 1 is supported"}
	}
	if len(pq.hash) != sha256.Size*2 {
		return "", &errorResponse{http.StatusBadRequest, gqlwire.CodePersistedQueryHashMismatch, "persistedQuery.sha256Hash must be a hex SHA-256 hash"}
	}
	if *query == "" {
		q, ok := store.get(pq.hash)
		if !ok {
			// 200, as Apollo's clients expect, so that they resend with the query.
			return "miss", &errorResponse{http.StatusOK, gqlwire.CodePersistedQueryNotFound, "PersistedQueryNotFound"}
		}
		*query = q
		return "hit", nil
	}
	if sha256Hex(*query) != pq.hash {
		return "", &errorResponse{http.StatusBadRequest, gqlwire.CodePersistedQueryHashMismatch, "provided sha does not match query"}
	}
	store.put(pq.hash, *query)
	return "stored", nil
}
