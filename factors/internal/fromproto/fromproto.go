// Package fromproto converts the wire types of factors/proto to the types
// of package factors. Every function maps nil to nil (a nil message inside a
// request becomes the zero value, since requests hold users and credentials
// by value).
package fromproto

import (
	"encoding/json"

	"google.golang.org/grpc/status"

	"github.com/twofoldauth/twofold/factors"
	pb "github.com/twofoldauth/twofold/factors/proto"
)

func User(u *pb.User) *factors.User {
	if u == nil {
		return nil
	}
	return &factors.User{ID: u.Id, Name: u.Name, DisplayName: u.DisplayName, Organization: u.Organization}
}

func Credential(c *pb.Credential) *factors.Credential {
	if c == nil {
		return nil
	}
	return &factors.Credential{ID: c.Id, ExternalID: c.ExternalId, State: c.State}
}

func Credentials(cs []*pb.Credential) []factors.Credential {
	if cs == nil {
		return nil
	}
	out := make([]factors.Credential, len(cs))
	for i, c := range cs {
		out[i] = deref(Credential(c))
	}
	return out
}

func DescribeRequest(r *pb.DescribeRequest) *factors.DescribeRequest {
	if r == nil {
		return nil
	}
	return &factors.DescribeRequest{}
}

func DescribeResponse(r *pb.DescribeResponse) *factors.DescribeResponse {
	if r == nil {
		return nil
	}
	var caps []factors.Capability
	for _, c := range r.Capabilities {
		caps = append(caps, factors.Capability(c))
	}
	return &factors.DescribeResponse{ID: r.Id, DisplayName: r.DisplayName, Version: r.Version,
		ProtocolVersion: int(r.ProtocolVersion), Capabilities: caps, Settings: r.Settings, SettingSchema: Settings(r.SettingSchema)}
}

var settingTypes = map[pb.SettingType]factors.SettingType{
	pb.SettingType_SETTING_TYPE_UNSPECIFIED: factors.SettingString,
	pb.SettingType_SETTING_TYPE_STRING:      factors.SettingString,
	pb.SettingType_SETTING_TYPE_INT:         factors.SettingInt,
	pb.SettingType_SETTING_TYPE_BOOL:        factors.SettingBool,
	pb.SettingType_SETTING_TYPE_DURATION:    factors.SettingDuration,
	pb.SettingType_SETTING_TYPE_URL:         factors.SettingURL,
	pb.SettingType_SETTING_TYPE_LIST:        factors.SettingList,
}

// Settings converts setting declarations. A type this host does not know
// (from a newer contract) is kept by its wire name, for the host to refuse.
func Settings(ss []*pb.Setting) []factors.Setting {
	if ss == nil {
		return nil
	}
	out := make([]factors.Setting, 0, len(ss))
	for _, s := range ss {
		if s == nil {
			continue
		}
		typ, ok := settingTypes[s.Type]
		if !ok {
			typ = factors.SettingType(s.Type.String())
		}
		out = append(out, factors.Setting{Name: s.Name, Type: typ, Required: s.Required, Secret: s.Secret,
			Default: s.DefaultValue, Description: s.Description})
	}
	return out
}

func ConfigureRequest(r *pb.ConfigureRequest) *factors.ConfigureRequest {
	if r == nil {
		return nil
	}
	return &factors.ConfigureRequest{Settings: r.Settings}
}

func ConfigureResponse(r *pb.ConfigureResponse) *factors.ConfigureResponse {
	if r == nil {
		return nil
	}
	return &factors.ConfigureResponse{}
}

func BeginEnrollmentRequest(r *pb.BeginEnrollmentRequest) *factors.BeginEnrollmentRequest {
	if r == nil {
		return nil
	}
	return &factors.BeginEnrollmentRequest{User: deref(User(r.User)), Label: r.Label, Existing: Credentials(r.Existing)}
}

func BeginEnrollmentResponse(r *pb.BeginEnrollmentResponse) *factors.BeginEnrollmentResponse {
	if r == nil {
		return nil
	}
	return &factors.BeginEnrollmentResponse{ClientData: raw(r.ClientData), PendingState: r.PendingState}
}

func FinishEnrollmentRequest(r *pb.FinishEnrollmentRequest) *factors.FinishEnrollmentRequest {
	if r == nil {
		return nil
	}
	return &factors.FinishEnrollmentRequest{User: deref(User(r.User)), PendingState: r.PendingState, Response: raw(r.Response)}
}

func FinishEnrollmentResponse(r *pb.FinishEnrollmentResponse) *factors.FinishEnrollmentResponse {
	if r == nil {
		return nil
	}
	return &factors.FinishEnrollmentResponse{State: r.State, Label: r.Label, ExternalID: r.ExternalId, Metadata: r.Metadata}
}

func BeginVerificationRequest(r *pb.BeginVerificationRequest) *factors.BeginVerificationRequest {
	if r == nil {
		return nil
	}
	return &factors.BeginVerificationRequest{User: deref(User(r.User)), Credentials: Credentials(r.Credentials), SessionState: r.SessionState}
}

func BeginVerificationResponse(r *pb.BeginVerificationResponse) *factors.BeginVerificationResponse {
	if r == nil {
		return nil
	}
	return &factors.BeginVerificationResponse{ClientData: raw(r.ClientData), SessionState: r.SessionState}
}

func FinishVerificationRequest(r *pb.FinishVerificationRequest) *factors.FinishVerificationRequest {
	if r == nil {
		return nil
	}
	return &factors.FinishVerificationRequest{User: deref(User(r.User)), Credential: deref(Credential(r.Credential)),
		SessionState: r.SessionState, Response: raw(r.Response)}
}

// FinishVerificationResponse restores the difference between nil metadata
// (keep) and empty metadata (clear) that proto3 maps lose.
func FinishVerificationResponse(r *pb.FinishVerificationResponse) *factors.FinishVerificationResponse {
	if r == nil {
		return nil
	}
	out := &factors.FinishVerificationResponse{State: r.State}
	if r.MetadataSet {
		out.Metadata = r.Metadata
		if out.Metadata == nil {
			out.Metadata = map[string]string{}
		}
	}
	return out
}

func IdentifyCredentialRequest(r *pb.IdentifyCredentialRequest) *factors.IdentifyCredentialRequest {
	if r == nil {
		return nil
	}
	return &factors.IdentifyCredentialRequest{Response: raw(r.Response)}
}

func IdentifyCredentialResponse(r *pb.IdentifyCredentialResponse) *factors.IdentifyCredentialResponse {
	if r == nil {
		return nil
	}
	return &factors.IdentifyCredentialResponse{ExternalID: r.ExternalId, UserID: r.UserId}
}

// Error rebuilds a factor's typed failure from a gRPC status carrying a
// FactorError: a *factors.Error wrapping the same sentinel, so errors.Is
// works in the host (like Vault's ProtoErrToErr). Anything else (transport
// failures, timeouts, untyped plugin errors) is returned unchanged for the
// host to classify.
func Error(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		if fe, ok := d.(*pb.FactorError); ok {
			if kind := sentinel(fe.Kind); kind != nil {
				return &factors.Error{Kind: kind, Detail: fe.Detail}
			}
		}
	}
	return err
}

func sentinel(k pb.ErrorKind) error {
	switch k {
	case pb.ErrorKind_ERROR_KIND_BAD_REQUEST:
		return factors.ErrBadRequest
	case pb.ErrorKind_ERROR_KIND_INVALID_RESPONSE:
		return factors.ErrInvalidResponse
	case pb.ErrorKind_ERROR_KIND_REPLAY:
		return factors.ErrReplay
	case pb.ErrorKind_ERROR_KIND_CLONE_WARNING:
		return factors.ErrCloneWarning
	case pb.ErrorKind_ERROR_KIND_ATTESTATION_REFUSED:
		return factors.ErrAttestationRefused
	case pb.ErrorKind_ERROR_KIND_USER_VERIFICATION_REQUIRED:
		return factors.ErrUserVerificationRequired
	case pb.ErrorKind_ERROR_KIND_UNSUPPORTED:
		return factors.ErrUnsupported
	case pb.ErrorKind_ERROR_KIND_RATE_LIMITED:
		return factors.ErrRateLimited
	}
	return nil
}

// raw keeps nil as nil: an absent JSON document stays absent.
func raw(b []byte) json.RawMessage {
	if b == nil {
		return nil
	}
	return json.RawMessage(b)
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
