package secretbox

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

const testKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// otherKey is a different valid key (32 bytes of 0xff).
var otherKey = base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\xff", KeySize)))

func mustNew(t testing.TB, key string, opts Options) *Box {
	t.Helper()
	b, err := New(key, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", key, err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	opts := Options{Name: "webhook secret", KeyVar: "HERALD_TEST_SECRET_KEY"}
	box := mustNew(t, testKey, opts)
	other := mustNew(t, otherKey, opts)
	plain := mustNew(t, "", opts)
	if !box.Encrypted() || plain.Encrypted() || (*Box)(nil).Encrypted() {
		t.Fatal("Encrypted() wrong")
	}

	sealed, err := box.Seal("row-1", "whsec_secret")
	if err != nil || !strings.HasPrefix(sealed, SealedPrefix) || strings.Contains(sealed, "whsec_secret") {
		t.Fatalf("Seal = %q, %v", sealed, err)
	}
	again, _ := box.Seal("row-1", "whsec_secret")
	if again == sealed {
		t.Fatal("two seals of one secret are equal: the nonce is not fresh")
	}
	stored, _ := plain.Seal("row-1", "whsec_x")
	if stored != "plain:whsec_x" {
		t.Fatalf("plain Seal = %q", stored)
	}
	empty, _ := box.Seal("row-1", "")

	tests := []struct {
		name    string
		box     *Box
		ad, in  string
		want    string
		kind    error
		message string
	}{
		{"sealed opens", box, "row-1", sealed, "whsec_secret", nil, ""},
		{"empty secret round-trips", box, "row-1", empty, "", nil, ""},
		{"bound to its row", box, "row-2", sealed, "", ErrDecrypt, "webhook secret: cannot decrypt (wrong HERALD_TEST_SECRET_KEY?)"},
		{"wrong key", other, "row-1", sealed, "", ErrDecrypt, "webhook secret: cannot decrypt (wrong HERALD_TEST_SECRET_KEY?)"},
		{"no key", plain, "row-1", sealed, "", ErrNoKey, "webhook secret is encrypted but HERALD_TEST_SECRET_KEY is not set"},
		{"nil box", nil, "row-1", sealed, "", ErrNoKey, "secret is encrypted but the secret key is not set"},
		{"plain with a key", box, "row-1", stored, "whsec_x", nil, ""},
		{"plain without a key", plain, "any", stored, "whsec_x", nil, ""},
		{"bad base64", box, "row-1", "v1:!!!", "", ErrCorrupt, "webhook secret: stored value is corrupt"},
		{"too short", box, "row-1", "v1:AAAA", "", ErrCorrupt, "webhook secret: stored value is corrupt"},
		{"tampered", box, "row-1", sealed[:len(sealed)-2] + flip(sealed[len(sealed)-2:]), "", ErrDecrypt, ""},
		{"bare value refused", box, "row-1", "whsec_bare", "", ErrFormat, "webhook secret: unknown stored format"},
		{"empty value refused", box, "row-1", "", "", ErrFormat, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.box.Open(tt.ad, tt.in)
			if tt.kind == nil {
				if err != nil || got != tt.want {
					t.Fatalf("Open = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.kind) || got != "" {
				t.Fatalf("Open = %q, %v; want an error of kind %v", got, err, tt.kind)
			}
			if tt.message != "" && err.Error() != tt.message {
				t.Fatalf("error %q, want %q", err, tt.message)
			}
		})
	}
}

func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// A box with LegacyPlain reads values written before sealing existed, and
// still opens and refuses prefixed values as any box does.
func TestLegacyPlain(t *testing.T) {
	box := mustNew(t, testKey, Options{LegacyPlain: true})
	for _, in := range []string{"whsec_bare", "", "v2:future", "PLAIN:x"} {
		if got, err := box.Open("row", in); err != nil || got != in {
			t.Errorf("Open(%q) = %q, %v; want it unchanged", in, got, err)
		}
	}
	sealed, _ := box.Seal("row", "s")
	if got, err := box.Open("row", sealed); err != nil || got != "s" {
		t.Errorf("sealed: %q, %v", got, err)
	}
	if _, err := box.Open("other", sealed); !errors.Is(err, ErrDecrypt) {
		t.Errorf("another row's value opened: %v", err)
	}
	if _, err := box.Open("row", "v1:%%"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("corrupt value: %v", err)
	}
}

func TestNewKey(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{"", true},
		{testKey, true},
		{otherKey, true},
		{"short", false},
		{"AAEC", false},
		{"!!!", false},
		{base64.StdEncoding.EncodeToString(make([]byte, 16)), false}, // AES-128 is not accepted
		{base64.RawStdEncoding.EncodeToString(make([]byte, 32)), false},
		{base64.URLEncoding.EncodeToString([]byte(strings.Repeat("\xfb", 32))), false},
		{" " + testKey, false},
	}
	for _, tt := range tests {
		_, err := New(tt.key, Options{})
		if (err == nil) != tt.ok {
			t.Errorf("New(%q) error %v, want ok=%v", tt.key, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrKey) {
			t.Errorf("New(%q) error %v, want ErrKey", tt.key, err)
		}
	}
}

// FuzzOpen: Open parses what the database holds. It never panics; what
// opens is the plain suffix, the legacy value itself, or the one secret
// sealed with this key and ad; failures have a kind; and every secret
// round-trips through Seal.
func FuzzOpen(f *testing.F) {
	box := mustNew(f, testKey, Options{Name: "webhook secret", KeyVar: "K"})
	legacy := mustNew(f, testKey, Options{LegacyPlain: true})
	plain := mustNew(f, "", Options{})
	f.Add("row", "v1:")
	f.Add("row", "plain:")
	f.Fuzz(func(t *testing.T, ad, stored string) {
		for _, b := range []*Box{box, legacy, plain} {
			got, err := b.Open(ad, stored)
			switch {
			case err != nil:
				if got != "" {
					t.Fatalf("Open(%q) = %q with error %v", stored, got, err)
				}
				if !errors.Is(err, ErrNoKey) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrFormat) {
					t.Fatalf("Open(%q): error of no kind: %v", stored, err)
				}
				if strings.HasPrefix(stored, PlainPrefix) || (b == legacy && !strings.HasPrefix(stored, SealedPrefix)) {
					t.Fatalf("Open(%q) failed: %v", stored, err)
				}
			case strings.HasPrefix(stored, PlainPrefix):
				if got != strings.TrimPrefix(stored, PlainPrefix) {
					t.Fatalf("Open(%q) = %q", stored, got)
				}
			case strings.HasPrefix(stored, SealedPrefix):
				if !b.Encrypted() {
					t.Fatalf("opened %q without a key", stored)
				}
				// Only this key's ciphertext opens: it seals back to a value
				// that opens to the same secret.
				again, err := b.Seal(ad, got)
				if err != nil {
					t.Fatal(err)
				}
				if back, err := b.Open(ad, again); err != nil || back != got {
					t.Fatalf("reseal of %q: %q, %v", got, back, err)
				}
			default:
				if b != legacy || got != stored {
					t.Fatalf("Open(%q) = %q, nil from a box without LegacyPlain", stored, got)
				}
			}
		}
		// Whatever the input, as a secret it round-trips.
		for _, b := range []*Box{box, plain} {
			s, err := b.Seal(ad, stored)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := b.Open(ad, s); err != nil || back != stored {
				t.Fatalf("Seal/Open of %q: %q, %v", stored, back, err)
			}
		}
	})
}

// Values sealed before the code moved here (by subgraphs/users) still open:
// the stored format is fixed.
func TestStoredFormatIsStable(t *testing.T) {
	const golden = "v1:d0BQLUaL3nowIsD8E5iFRmL+fsPcRf+YVHWeA8HaDDupUBQVYVRVfg"
	box := mustNew(t, testKey, Options{})
	if got, err := box.Open("row", golden); err != nil || got != "whsec_golden" {
		t.Fatalf("Open(golden) = %q, %v", got, err)
	}
}
