package router

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestAPQStoreEvictsByBytes(t *testing.T) {
	s := newAPQStore(3 * (64 + 100 + entryOverhead))
	q := func(c string) string { return strings.Repeat(c, 100) }
	for _, c := range []string{"a", "b", "c"} {
		s.put(sha256Hex(q(c)), q(c))
	}
	if _, ok := s.get(sha256Hex(q("a"))); !ok { // a is now the most recently used
		t.Fatal("a evicted too early")
	}
	s.put(sha256Hex(q("d")), q("d"))
	if _, ok := s.get(sha256Hex(q("b"))); ok {
		t.Error("b, the least recently used, was kept")
	}
	for _, c := range []string{"a", "c", "d"} {
		if got, ok := s.get(sha256Hex(q(c))); !ok || got != q(c) {
			t.Errorf("%s lost", c)
		}
	}
	s.put(sha256Hex(strings.Repeat("x", 10000)), strings.Repeat("x", 10000))
	if s.len() != 3 {
		t.Errorf("a query larger than the store changed it: %d entries", s.len())
	}
}

func TestAutomaticPersistedQueries(t *testing.T) {
	const query = `{ user(id: "u1") { name } }`
	hash := sha256Hex(query)
	ext := func(version, h string) string {
		return `"extensions":{"persistedQuery":{"version":` + version + `,"sha256Hash":"` + h + `"}}`
	}
	const served = `{"data":{"user":{"name":"Ada Lovelace"}}}`
	const notFound = `{"errors":[{"message":"PersistedQueryNotFound","extensions":{"code":"PERSISTED_QUERY_NOT_FOUND"}}]}`

	tr := limitsRouter(t, nil)
	getURL := "extensions=" + url.QueryEscape(`{"persistedQuery":{"version":1,"sha256Hash":"`+hash+`"}}`)
	cases := []routerCase{
		{name: "unknown hash", body: `{` + ext("1", hash) + `}`, wantBody: notFound},
		{name: "unknown hash over GET", method: http.MethodGet, body: getURL, wantBody: notFound},
		refused("hash with a query that does not match", `{"query":"{ user(id: \"u2\") { name } }",`+ext("1", hash)+`}`,
			"PERSISTED_QUERY_HASH_MISMATCH", "provided sha does not match query"),
		{name: "still unknown after the mismatch", body: `{` + ext("1", hash) + `}`, wantBody: notFound},
		{name: "query with its hash is stored", body: `{"query":"{ user(id: \"u1\") { name } }",` + ext("1", hash) + `}`, wantBody: served},
		{name: "hash alone now runs it", body: `{` + ext("1", hash) + `}`, wantBody: served},
		{name: "upper-case hash alone", body: `{` + ext("1", strings.ToUpper(hash)) + `}`, wantBody: served},
		{name: "hash alone over GET", method: http.MethodGet, body: getURL, wantBody: served},
		refused("unsupported version", `{`+ext("2", hash)+`}`,
			"PERSISTED_QUERY_NOT_SUPPORTED", "PersistedQueryNotSupported: only version 1 is supported"),
		refused("not a hash", `{`+ext("1", "abc")+`}`,
			"PERSISTED_QUERY_HASH_MISMATCH", "persistedQuery.sha256Hash must be a hex SHA-256 hash"),
		refused("version not a number", `{"extensions":{"persistedQuery":{"version":"1","sha256Hash":"`+hash+`"}}}`,
			"BAD_USER_INPUT", "extensions.persistedQuery.version must be a number"),
		{name: "persisted queries in a batch", body: `[{` + ext("1", hash) + `},{` + ext("1", sha256Hex("{ __typename }")) + `}]`,
			wantBody: `[` + served + `,` + notFound + `]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, tr.url) })
	}

	off := limitsRouter(t, func(c *Config) { c.DisableAPQ = true })
	for _, c := range []routerCase{
		refused("off: hash alone", `{`+ext("1", hash)+`}`,
			"PERSISTED_QUERY_NOT_SUPPORTED", "PersistedQueryNotSupported"),
		{name: "off: query with hash runs", body: `{"query":"{ user(id: \"u1\") { name } }",` + ext("1", hash) + `}`, wantBody: served},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, off.url) })
	}
}
