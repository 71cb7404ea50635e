package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// Signer mints tokens: the development stack's local identity provider
// (`herald token`), and tests. Production tokens come from the team's
// identity provider, never from here.
type Signer struct {
	key    crypto.Signer
	kid    string
	method jwt.SigningMethod
	// Issuer and Audience go into every token when set.
	Issuer   string
	Audience string
}

// NewSigner wraps a private key (RSA, ECDSA P-256 or Ed25519) with key id
// kid (may be empty).
func NewSigner(key crypto.Signer, kid string) (*Signer, error) {
	s := &Signer{key: key, kid: kid}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		s.method = jwt.SigningMethodRS256
	case *ecdsa.PrivateKey:
		if k.Curve.Params().Name != "P-256" {
			return nil, fmt.Errorf("auth: ECDSA key on %s: only P-256 (ES256)", k.Curve.Params().Name)
		}
		s.method = jwt.SigningMethodES256
	case ed25519.PrivateKey:
		s.method = jwt.SigningMethodEdDSA
	default:
		return nil, fmt.Errorf("auth: %T keys cannot sign tokens", key)
	}
	return s, nil
}

// KeyID is the key id put in the token header.
func (s *Signer) KeyID() string { return s.kid }

// Mint returns a token for subject with scopes, valid for ttl from now.
func (s *Signer) Mint(subject string, scopes []string, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{
		"sub": subject,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
	if len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	if s.Issuer != "" {
		claims["iss"] = s.Issuer
	}
	if s.Audience != "" {
		claims["aud"] = s.Audience
	}
	return s.MintClaims(claims)
}

// MintClaims signs claims as they are.
func (s *Signer) MintClaims(claims jwt.MapClaims) (string, error) {
	t := jwt.NewWithClaims(s.method, claims)
	if s.kid != "" {
		t.Header["kid"] = s.kid
	}
	return t.SignedString(s.key)
}

// PublicKeyPEM is the public key for HERALD_AUTH_PUBLIC_KEY_FILE.
func (s *Signer) PublicKeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(s.key.Public())
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// JWK is the public key as a JSON Web Key, for a JWKS document.
func (s *Signer) JWK() (json.RawMessage, error) {
	j, err := jwkset.NewJWKFromKey(s.key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{
		KID: s.kid, ALG: jwkset.ALG(s.method.Alg()), USE: jwkset.UseSig,
	}})
	if err != nil {
		return nil, err
	}
	return json.Marshal(j.Marshal())
}

// JWKS renders a key set document of the signers' public keys.
func JWKS(signers ...*Signer) ([]byte, error) {
	keys := make([]json.RawMessage, 0, len(signers))
	for _, s := range signers {
		k, err := s.JWK()
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return json.Marshal(map[string]any{"keys": keys})
}

// LoadOrCreateSigner reads an Ed25519 private key (PKCS #8 PEM) from path,
// creating it (mode 0600) when the file does not exist: the development
// stack's signing key survives restarts, so minted tokens stay valid.
func LoadOrCreateSigner(path string) (*Signer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, gerr
		}
		der, merr := x509.MarshalPKCS8PrivateKey(priv)
		if merr != nil {
			return nil, merr
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("auth: signing key: %w", err)
		}
		b = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("auth: signing key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("auth: signing key: %w", err)
	}
	key, err := parsePEM("signing key", path, b, x509.ParsePKCS8PrivateKey)
	if err != nil {
		return nil, err
	}
	cs, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("auth: signing key %s: %T cannot sign", path, key)
	}
	return NewSigner(cs, "")
}

// Key is the private key.
func (s *Signer) Key() crypto.Signer { return s.key }
