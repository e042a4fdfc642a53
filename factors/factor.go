// Package factors defines the one contract between the Twofold host and its
// factor plugins: the Factor interface, its request and response types, and
// the sentinel errors a plugin may return.
//
// A factor is stateless. The host keeps every byte of credential and
// ceremony state (sealed at rest) and hands it back on each call, so any host
// process can finish a ceremony another one began. Every method has the shape
// Method(ctx, *MethodRequest) (*MethodResponse, error) so fields can be added
// without breaking vendors.
package factors

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
)

// ProtocolVersion is the version of this contract. The go-plugin handshake
// negotiates it: the host speaks every version from MinProtocolVersion to
// ProtocolVersion and refuses plugins built for any other.
//
//   - 1: settings are a map of descriptions, every one an optional string.
//   - 2: settings are declared with SettingSchema (type, required, secret,
//     default); the host validates values before Configure. The host serves
//     host services to plugins (DeliverMessage, Log, Metric: see
//     factors/sdk.Host); BeginVerificationRequest.SessionState carries a
//     resend's earlier state; ErrRateLimited.
const ProtocolVersion = 2

// MinProtocolVersion is the oldest contract version the host still speaks.
const MinProtocolVersion = 1

// Capability describes a property of a factor type that policies and clients
// can reason about.
type Capability string

// Known capabilities.
const (
	CapabilityPhishingResistant Capability = "phishing_resistant"
	CapabilityPasswordless      Capability = "passwordless"
	CapabilityHardwareBound     Capability = "hardware_bound"
)

// Factor is implemented by every factor plugin.
type Factor interface {
	// Describe says what the factor is. It is called once after start.
	Describe(ctx context.Context, req *DescribeRequest) (*DescribeResponse, error)
	// Configure hands the plugin its settings from the host's configuration.
	// It is called after every (re)start, before any other ceremony call.
	Configure(ctx context.Context, req *ConfigureRequest) (*ConfigureResponse, error)

	// BeginEnrollment starts enrolling a new credential for a user.
	BeginEnrollment(ctx context.Context, req *BeginEnrollmentRequest) (*BeginEnrollmentResponse, error)
	// FinishEnrollment checks the client's answer to BeginEnrollment and
	// returns the credential's state.
	FinishEnrollment(ctx context.Context, req *FinishEnrollmentRequest) (*FinishEnrollmentResponse, error)

	// BeginVerification creates a challenge for the given credentials, or, when
	// req.Credentials is empty and the factor is passwordless, a challenge for
	// any discoverable credential.
	BeginVerification(ctx context.Context, req *BeginVerificationRequest) (*BeginVerificationResponse, error)
	// FinishVerification checks the client's response against one credential
	// and returns the credential's updated state (last TOTP step, sign count).
	FinishVerification(ctx context.Context, req *FinishVerificationRequest) (*FinishVerificationResponse, error)

	// IdentifyCredential reads which credential a verification response was
	// made with, without verifying it. Passwordless sign-in uses it to find the
	// user before FinishVerification. Factors that cannot tell return
	// ErrUnsupported.
	IdentifyCredential(ctx context.Context, req *IdentifyCredentialRequest) (*IdentifyCredentialResponse, error)
}

// User is who a ceremony is for. ID is stable and opaque (used as the WebAuthn
// user handle); Name is the login name; DisplayName is for humans.
type User struct {
	ID          string
	Name        string
	DisplayName string
	// Organization is the organization's slug (used as TOTP account prefix).
	Organization string
}

// Credential is one enrolled credential as the host stores it.
type Credential struct {
	// ID is the host's enrollment id.
	ID string
	// ExternalID is the id the factor gave at enrollment (WebAuthn credential
	// id); empty for factors without one.
	ExternalID []byte
	// State is the factor's opaque credential state, unsealed.
	State []byte
}

// DescribeRequest asks a factor to describe itself.
type DescribeRequest struct{}

// DescribeResponse describes a factor type.
type DescribeResponse struct {
	// ID is the factor type id, e.g. "totp"; lowercase letters, digits, '-'.
	ID          string
	DisplayName string
	Version     string
	// ProtocolVersion is the contract version the plugin speaks; the SDK
	// sets it to the version the handshake negotiated.
	ProtocolVersion int
	Capabilities    []Capability
	// SettingSchema declares the settings Configure accepts (protocol
	// version 2). The host reads, checks and passes only these.
	SettingSchema []Setting
	// Settings lists the configuration keys Configure accepts, with a short
	// description each: protocol version 1's declaration, kept for hosts
	// that speak only it. The SDK fills it from SettingSchema; a plugin
	// that sets only Settings declares optional strings.
	Settings map[string]string
}

// Schema returns the declared settings: SettingSchema, or for a version 1
// plugin one optional string per key of Settings, sorted by name.
func (d *DescribeResponse) Schema() []Setting {
	if len(d.SettingSchema) > 0 || len(d.Settings) == 0 {
		return d.SettingSchema
	}
	out := make([]Setting, 0, len(d.Settings))
	for name, desc := range d.Settings {
		out = append(out, Setting{Name: name, Type: SettingString, Description: desc})
	}
	slices.SortFunc(out, func(a, b Setting) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ConfigureRequest carries the plugin's settings. Keys are the ones Describe
// listed; unknown keys are an error (ErrBadRequest).
type ConfigureRequest struct {
	Settings map[string]string
}

// ConfigureResponse is empty; it exists so fields can be added.
type ConfigureResponse struct{}

// BeginEnrollmentRequest starts an enrollment.
type BeginEnrollmentRequest struct {
	User  User
	Label string
	// Existing are the user's active credentials of this factor type (for
	// WebAuthn excludeCredentials).
	Existing []Credential
}

// BeginEnrollmentResponse is what the client needs, and what the host must
// keep until FinishEnrollment.
type BeginEnrollmentResponse struct {
	// ClientData is JSON for the client (TOTP: secret, uri, qrCode; WebAuthn:
	// CredentialCreationOptions).
	ClientData json.RawMessage
	// PendingState is opaque; the host seals it and returns it unchanged.
	PendingState []byte
}

// FinishEnrollmentRequest completes an enrollment.
type FinishEnrollmentRequest struct {
	User         User
	PendingState []byte
	// Response is the client's JSON (TOTP: {"code": "123456"}; WebAuthn: the
	// PublicKeyCredential JSON).
	Response json.RawMessage
}

// FinishEnrollmentResponse is the new credential.
type FinishEnrollmentResponse struct {
	State []byte
	// Label suggested by the factor when the user gave none (e.g. the
	// authenticator's name).
	Label      string
	ExternalID []byte
	// Metadata is public, unsealed information shown to users and admins
	// (aaguid, transports, authenticator, backup_eligible, backup_state).
	Metadata map[string]string
}

// BeginVerificationRequest starts a verification.
type BeginVerificationRequest struct {
	// User is empty for a passwordless (discoverable) ceremony.
	User        User
	Credentials []Credential
	// SessionState is what an earlier BeginVerification of the same login
	// for the same credential returned, when the client asks again (a
	// resend); nil on the first call. A factor that sends codes keeps the
	// time it sent one in it and answers ErrRateLimited within its
	// cool-down.
	SessionState []byte
}

// BeginVerificationResponse carries the challenge, if the factor has one.
type BeginVerificationResponse struct {
	// ClientData is JSON for the client ({} for TOTP; WebAuthn:
	// CredentialRequestOptions).
	ClientData json.RawMessage
	// SessionState is opaque; the host keeps it and hands it to
	// FinishVerification.
	SessionState []byte
}

// FinishVerificationRequest checks a response.
type FinishVerificationRequest struct {
	User       User
	Credential Credential
	// SessionState is what BeginVerification returned; nil when the client did
	// not call BeginVerification (TOTP needs no challenge).
	SessionState []byte
	Response     json.RawMessage
}

// FinishVerificationResponse is the outcome of a successful verification.
// Failures are errors (ErrInvalidResponse, ErrReplay, ErrCloneWarning...).
type FinishVerificationResponse struct {
	// State is the credential's updated state; the host writes it with
	// compare-and-swap, so a response is accepted at most once.
	State []byte
	// Metadata, when not nil, replaces the credential's public metadata.
	Metadata map[string]string
}

// IdentifyCredentialRequest carries a verification response.
type IdentifyCredentialRequest struct {
	Response json.RawMessage
}

// IdentifyCredentialResponse names the credential and, when the response
// carries one, the user handle.
type IdentifyCredentialResponse struct {
	ExternalID []byte
	UserID     string
}
