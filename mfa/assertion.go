package mfa

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/twofoldauth/twofold/factors"
)

// Session assertions: short-lived JWTs, signed by Twofold, that an SPA hands
// to its own backend so the backend learns who is logged in and how (amr,
// acr) without calling Twofold. The signing keys live in the database,
// their private halves sealed by the keyring, so every server signs with the
// same key and publishes the same key set (PublicKeys, the JWKS).
//
// A key's life, from its row: it is published from its creation, signs from
// NotBefore until SignUntil (one rotation period), and stays published until
// VerifyUntil = SignUntil + the assertion lifetime, when every token it
// signed has expired. Its successor is created ahead of time (the
// pre-publication lead, at most a day), so backends that cache the key set
// know the new key before it signs. Generations are unique in the table: of
// servers deciding at once to create the next key, one wins.

// AssertionConfig tunes session assertions. Zero fields take the defaults.
type AssertionConfig struct {
	// Issuer is the iss claim (TWOFOLD_PUBLIC_URL).
	Issuer string
	// TTL is how long an assertion is valid.
	TTL time.Duration
	// KeyRotation is how long one key signs before the next one takes over.
	KeyRotation time.Duration
}

// Assertion defaults.
const (
	DefaultAssertionTTL         = 5 * time.Minute
	DefaultAssertionKeyRotation = 30 * 24 * time.Hour
	DefaultAssertionIssuer      = "twofold"
	// maxKeyLead bounds how early the next key is published.
	maxKeyLead = 24 * time.Hour
)

func (c AssertionConfig) withDefaults() AssertionConfig {
	if c.TTL <= 0 {
		c.TTL = DefaultAssertionTTL
	}
	if c.KeyRotation <= 0 {
		c.KeyRotation = DefaultAssertionKeyRotation
	}
	if c.Issuer == "" {
		c.Issuer = DefaultAssertionIssuer
	}
	return c
}

// keyLead is how long before a key stops signing its successor is created
// (and published).
func (c AssertionConfig) keyLead() time.Duration { return min(c.KeyRotation/2, maxKeyLead) }

// Authentication methods (RFC 8176) a session records and its assertions
// carry in amr.
const (
	AMRPassword    = "pwd"  // the password
	AMROneTime     = "otp"  // a one-time code: TOTP, emailed codes, recovery codes
	AMRHardwareKey = "hwk"  // a hardware-bound key (security key)
	AMRSoftwareKey = "swk"  // a software-held key (passkey)
	AMRUser        = "user" // user presence or verification tested by the authenticator
	AMRMulti       = "mfa"  // more than one factor
)

// Authentication context classes (acr) of an assertion.
const (
	// ACRMultiFactor: a second factor was verified at this login (or a
	// passkey with user verification signed in without a password).
	ACRMultiFactor = "urn:twofold:mfa"
	// ACRTrustedBrowser: the password, on a browser the user trusted after
	// a second factor within the policy's trust window.
	ACRTrustedBrowser = "urn:twofold:trusted-browser"
	// ACRPassword: the password alone.
	ACRPassword = "urn:twofold:pwd"
)

// SigningAlgorithm is the JWS algorithm of assertions: EdDSA over Ed25519.
const SigningAlgorithm = "EdDSA"

// SigningKey is an assertion signing key as stored. The private key is
// sealed by the keyring, bound to the key's id.
type SigningKey struct {
	// ID is the key id (kid).
	ID string
	// Generation orders keys; it is unique, so one key per generation.
	Generation int64
	Algorithm  string
	PublicKey  []byte
	PrivateKey []byte
	// SealKeyID names the keyring key that sealed PrivateKey.
	SealKeyID   string
	CreatedAt   time.Time
	NotBefore   time.Time
	SignUntil   time.Time
	VerifyUntil time.Time
}

func (k *SigningKey) aad() string { return "signing_key:" + k.ID + ":" + k.Algorithm }

func (k *SigningKey) signs(now time.Time) bool {
	return !now.Before(k.NotBefore) && now.Before(k.SignUntil)
}

// AssertionClaims are an assertion's claims.
type AssertionClaims struct {
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
	// Organization is the organization's id, OrganizationSlug its slug.
	Organization     string   `json:"org"`
	OrganizationSlug string   `json:"org_slug"`
	Username         string   `json:"preferred_username"`
	SessionID        string   `json:"sid"`
	AuthTime         int64    `json:"auth_time"`
	IssuedAt         int64    `json:"iat"`
	Expiry           int64    `json:"exp"`
	ID               string   `json:"jti,omitempty"`
	AMR              []string `json:"amr"`
	ACR              string   `json:"acr"`
}

// Assertion is a signed session assertion.
type Assertion struct {
	Token     string
	ExpiresAt time.Time
	Claims    AssertionClaims
}

// secondFactorKey carries, on a login's context, the step that completed it.
type secondFactorKey struct{}

type secondFactor struct {
	passwordless bool
	factorType   string // "" for a recovery code
}

// withSecondFactor records on ctx that the login on ticket t passed its
// second step with a factor of factorType ("" for a recovery code), so the
// session completeLogin starts remembers how the user authenticated (amr).
func (s *Service) withSecondFactor(ctx context.Context, t *LoginTicket, factorType string) context.Context {
	return context.WithValue(ctx, secondFactorKey{}, secondFactor{passwordless: t != nil && t.Status == StatusPasswordless, factorType: factorType})
}

// amrFor says how the login whose session is starting authenticated the
// user (RFC 8176 values, in a stable order). Without a recorded second
// step it was the password alone: a trusted browser's login included.
func (s *Service) amrFor(ctx context.Context) []string {
	step, ok := ctx.Value(secondFactorKey{}).(secondFactor)
	if !ok {
		return []string{AMRPassword}
	}
	var amr []string
	if !step.passwordless {
		amr = append(amr, AMRPassword)
	}
	amr = append(amr, s.factorAMR(step.factorType)...)
	return append(amr, AMRMulti)
}

// factorAMR names a factor type's methods from its capabilities, so a
// vendor's factor is described without Twofold knowing it: hardware-bound
// keys are hwk, other phishing-resistant (WebAuthn) keys swk, both with a
// user presence test; anything else (codes) is otp.
func (s *Service) factorAMR(factorType string) []string {
	if factorType == "" {
		return []string{AMROneTime}
	}
	var caps []factors.Capability
	for _, st := range s.registry.Types() {
		if st.ID == factorType {
			caps = st.Capabilities
		}
	}
	switch {
	case slices.Contains(caps, factors.CapabilityHardwareBound):
		return []string{AMRHardwareKey, AMRUser}
	case slices.Contains(caps, factors.CapabilityPhishingResistant):
		return []string{AMRSoftwareKey, AMRUser}
	}
	return []string{AMROneTime}
}

// sessionAMR is what a session says of its login; sessions started before
// the methods were recorded have only their MFA flag.
func sessionAMR(sess *Session) []string {
	switch {
	case len(sess.AMR) > 0:
		return sess.AMR
	case sess.MFA:
		return []string{AMRMulti}
	}
	return []string{AMRPassword}
}

// acrFor classifies a session's login.
func acrFor(sess *Session, amr []string) string {
	switch {
	case slices.Contains(amr, AMRMulti):
		return ACRMultiFactor
	case sess.MFA:
		return ACRTrustedBrowser
	}
	return ACRPassword
}

// sessionLive reports whether a session is within its idle and absolute
// lifetime at now.
func (s *Service) sessionLive(sess *Session, now time.Time) bool {
	return now.Before(sess.ExpiresAt) && now.Sub(sess.LastSeenAt) < s.cfg.SessionIdleTimeout
}

// SessionAssertion signs an assertion of the viewer's own session.
func (s *Service) SessionAssertion(ctx context.Context, v *Viewer) (*Assertion, error) {
	now := s.now()
	sess, err := s.store.SessionByID(ctx, v.Session.ID)
	if errors.Is(err, ErrNotFound) {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	if !s.sessionLive(sess, now) {
		return nil, errUnauthenticated
	}
	org, err := s.store.OrganizationByID(ctx, v.User.OrganizationID)
	if err != nil {
		return nil, err
	}
	key, priv, err := s.signingKey(ctx, now)
	if err != nil {
		return nil, err
	}
	ac := s.cfg.Assertion
	exp := earliest(now.Add(ac.TTL), key.VerifyUntil, sess.ExpiresAt)
	amr := sessionAMR(sess)
	claims := AssertionClaims{
		Issuer: ac.Issuer, Subject: v.User.ID, Organization: org.ID, OrganizationSlug: org.Slug, Username: v.User.Username,
		SessionID: sess.ID, AuthTime: sess.CreatedAt.Unix(), IssuedAt: now.Unix(), Expiry: exp.Unix(),
		ID: newID(), AMR: amr, ACR: acrFor(sess, amr),
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), key.ID))
	if err != nil {
		return nil, err
	}
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return nil, err
	}
	return &Assertion{Token: token, ExpiresAt: time.Unix(exp.Unix(), 0).UTC(), Claims: claims}, nil
}

// PublicKeys is the JSON Web Key Set of the keys that verify assertions:
// the one signing now, its pre-published successor, and predecessors whose
// tokens may not have expired.
func (s *Service) PublicKeys(ctx context.Context) (*jose.JSONWebKeySet, error) {
	now := s.now()
	if _, _, err := s.signingKey(ctx, now); err != nil {
		return nil, err
	}
	keys, err := s.verificationKeys(ctx, now)
	if err != nil {
		return nil, err
	}
	set := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: ed25519.PublicKey(k.PublicKey), KeyID: k.ID, Algorithm: k.Algorithm, Use: "sig"})
	}
	return set, nil
}

// verificationKeys are the stored keys published at now, oldest first.
func (s *Service) verificationKeys(ctx context.Context, now time.Time) ([]SigningKey, error) {
	keys, _, err := s.storedKeys(ctx, now)
	return keys, err
}

// storedKeys returns the keys published at now, oldest first, and the
// newest generation stored.
func (s *Service) storedKeys(ctx context.Context, now time.Time) ([]SigningKey, int64, error) {
	all, err := s.store.SigningKeys(ctx)
	if err != nil {
		return nil, 0, err
	}
	var newest int64
	var keys []SigningKey
	for _, k := range all {
		newest = max(newest, k.Generation)
		if now.Before(k.VerifyUntil) && k.Algorithm == SigningAlgorithm && len(k.PublicKey) == ed25519.PublicKeySize {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b SigningKey) int { return cmp.Compare(a.Generation, b.Generation) })
	return keys, newest, nil
}

// signingKey returns the key that signs at now and its private half,
// creating the first key, or the next one when its time has come. Servers
// that decide at once insert the same generation: the unique key keeps
// one, and the others read it.
func (s *Service) signingKey(ctx context.Context, now time.Time) (*SigningKey, ed25519.PrivateKey, error) {
	lead := s.cfg.Assertion.keyLead()
	for range 3 {
		keys, newest, err := s.storedKeys(ctx, now)
		if err != nil {
			return nil, nil, err
		}
		// The newest key that signs now and that this keyring opens: a key
		// sealed under a seal key no longer configured is skipped (it stays
		// published for the tokens it signed) and, if none is left, a new
		// key takes over.
		var cur *SigningKey
		var priv ed25519.PrivateKey
		for i := len(keys) - 1; i >= 0 && cur == nil; i-- {
			if !keys[i].signs(now) {
				continue
			}
			if seed, err := s.keyring.Open(keys[i].PrivateKey, keys[i].SealKeyID, keys[i].aad()); err == nil && len(seed) == ed25519.SeedSize {
				cur, priv = &keys[i], ed25519.NewKeyFromSeed(seed)
			}
		}
		var next *SigningKey
		switch {
		case cur == nil:
			s.log.Info("creating an assertion signing key", "generation", newest+1)
			next = s.newSigningKey(newest+1, now, now)
		case newest == cur.Generation && !now.Before(cur.SignUntil.Add(-lead)):
			next = s.newSigningKey(newest+1, now, cur.SignUntil)
		default:
			return cur, priv, nil
		}
		err = s.store.CreateSigningKey(ctx, next)
		switch {
		case errors.Is(err, ErrDuplicate):
			// Another server created this generation first: theirs counts.
		case err != nil:
			return nil, nil, err
		default:
			if err := s.store.DeleteSigningKeys(ctx, now); err != nil {
				s.log.Warn("deleting expired assertion signing keys", "err", err)
			}
		}
		if cur != nil {
			return cur, priv, nil
		}
	}
	return nil, nil, errors.New("mfa: no assertion signing key could be created")
}

// newSigningKey makes a key of generation gen that signs from notBefore
// for one rotation period.
func (s *Service) newSigningKey(gen int64, now, notBefore time.Time) *SigningKey {
	ac := s.cfg.Assertion
	pub, priv, _ := ed25519.GenerateKey(nil)
	k := &SigningKey{
		ID: newID(), Generation: gen, Algorithm: SigningAlgorithm, PublicKey: pub,
		CreatedAt: now, NotBefore: notBefore, SignUntil: notBefore.Add(ac.KeyRotation),
	}
	k.VerifyUntil = k.SignUntil.Add(ac.TTL)
	k.PrivateKey, k.SealKeyID = s.keyring.Seal(priv.Seed(), k.aad())
	return k
}

// Introspection is the RFC 7662 answer about a token. Only Active is set
// when the token is not active.
type Introspection struct {
	Active bool `json:"active"`
	*AssertionClaims
	// TokenType says what the token was: "session" (a session bearer
	// token) or "assertion" (a session assertion).
	TokenType string `json:"token_type,omitempty"`
}

var inactive = &Introspection{}

// Introspect tells a backend whether token, a session bearer token or a
// session assertion, is active, and about its session. An assertion is
// active while its signature verifies against a published key, it has not
// expired, and its session is still live; a session token while its
// session is live. Anything else, malformed or unknown, is just inactive.
// Introspection does not count as the session's use (its idle time runs).
func (s *Service) Introspect(ctx context.Context, token string) (*Introspection, error) {
	if token == "" || len(token) > 4096 {
		return inactive, nil
	}
	now := s.now()
	var sess *Session
	var err error
	var claims *AssertionClaims
	if strings.Count(token, ".") == 2 {
		if claims = s.verifyAssertion(ctx, token, now); claims == nil {
			return inactive, nil
		}
		sess, err = s.store.SessionByID(ctx, claims.SessionID)
	} else if len(token) <= 128 {
		sess, err = s.store.SessionByTokenHash(ctx, hashToken(token))
		if err == nil {
			sess, err = s.store.SessionByID(ctx, sess.ID) // with its methods
		}
	} else {
		return inactive, nil
	}
	if errors.Is(err, ErrNotFound) {
		return inactive, nil
	}
	if err != nil {
		return nil, err
	}
	if !s.sessionLive(sess, now) {
		return inactive, nil
	}
	user, err := s.store.UserByID(ctx, sess.UserID)
	if errors.Is(err, ErrNotFound) {
		return inactive, nil
	}
	if err != nil {
		return nil, err
	}
	if user.Status != UserActive || (claims != nil && claims.Subject != user.ID) {
		return inactive, nil
	}
	if claims != nil {
		return &Introspection{Active: true, AssertionClaims: claims, TokenType: "assertion"}, nil
	}
	org, err := s.store.OrganizationByID(ctx, user.OrganizationID)
	if err != nil {
		return nil, err
	}
	amr := sessionAMR(sess)
	exp := earliest(sess.ExpiresAt, sess.LastSeenAt.Add(s.cfg.SessionIdleTimeout))
	return &Introspection{Active: true, TokenType: "session", AssertionClaims: &AssertionClaims{
		Issuer: s.cfg.Assertion.Issuer, Subject: user.ID, Organization: org.ID, OrganizationSlug: org.Slug, Username: user.Username,
		SessionID: sess.ID, AuthTime: sess.CreatedAt.Unix(), IssuedAt: sess.CreatedAt.Unix(), Expiry: exp.Unix(),
		AMR: amr, ACR: acrFor(sess, amr),
	}}, nil
}

// verifyAssertion returns the claims of an assertion this deployment signed
// that is valid at now, or nil.
func (s *Service) verifyAssertion(ctx context.Context, token string, now time.Time) *AssertionClaims {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil || len(tok.Headers) != 1 {
		return nil
	}
	keys, err := s.verificationKeys(ctx, now)
	if err != nil {
		return nil
	}
	i := slices.IndexFunc(keys, func(k SigningKey) bool { return k.ID == tok.Headers[0].KeyID })
	if i < 0 {
		return nil
	}
	var claims AssertionClaims
	if err := tok.Claims(ed25519.PublicKey(keys[i].PublicKey), &claims); err != nil {
		return nil
	}
	if claims.Issuer != s.cfg.Assertion.Issuer || !now.Before(time.Unix(claims.Expiry, 0)) || claims.SessionID == "" {
		return nil
	}
	return &claims
}

func earliest(t time.Time, more ...time.Time) time.Time {
	for _, u := range more {
		if u.Before(t) {
			t = u
		}
	}
	return t
}
