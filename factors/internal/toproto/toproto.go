// Package toproto converts the types of package factors to their wire form
// in factors/proto. Every function maps nil to nil.
package toproto

import (
	"errors"
	"maps"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twofoldauth/twofold/factors"
	pb "github.com/twofoldauth/twofold/factors/proto"
)

func User(u *factors.User) *pb.User {
	if u == nil {
		return nil
	}
	return &pb.User{Id: u.ID, Name: u.Name, DisplayName: u.DisplayName, Organization: u.Organization}
}

func Credential(c *factors.Credential) *pb.Credential {
	if c == nil {
		return nil
	}
	return &pb.Credential{Id: c.ID, ExternalId: c.ExternalID, State: c.State}
}

func Credentials(cs []factors.Credential) []*pb.Credential {
	if cs == nil {
		return nil
	}
	out := make([]*pb.Credential, len(cs))
	for i := range cs {
		out[i] = Credential(&cs[i])
	}
	return out
}

func DescribeRequest(r *factors.DescribeRequest) *pb.DescribeRequest {
	if r == nil {
		return nil
	}
	return &pb.DescribeRequest{}
}

func DescribeResponse(r *factors.DescribeResponse) *pb.DescribeResponse {
	if r == nil {
		return nil
	}
	var caps []string
	for _, c := range r.Capabilities {
		caps = append(caps, string(c))
	}
	settings := r.Settings
	if len(r.SettingSchema) > 0 {
		// Hosts that speak only version 1 read the descriptions.
		settings = make(map[string]string, len(r.SettingSchema)+len(r.Settings))
		maps.Copy(settings, r.Settings)
		for _, s := range r.SettingSchema {
			if _, ok := settings[s.Name]; !ok {
				settings[s.Name] = s.Description
			}
		}
	}
	return &pb.DescribeResponse{Id: r.ID, DisplayName: r.DisplayName, Version: r.Version,
		ProtocolVersion: int32(r.ProtocolVersion), Capabilities: caps, Settings: settings, SettingSchema: Settings(r.SettingSchema)}
}

var settingTypes = map[factors.SettingType]pb.SettingType{
	"":                      pb.SettingType_SETTING_TYPE_STRING,
	factors.SettingString:   pb.SettingType_SETTING_TYPE_STRING,
	factors.SettingInt:      pb.SettingType_SETTING_TYPE_INT,
	factors.SettingBool:     pb.SettingType_SETTING_TYPE_BOOL,
	factors.SettingDuration: pb.SettingType_SETTING_TYPE_DURATION,
	factors.SettingURL:      pb.SettingType_SETTING_TYPE_URL,
	factors.SettingList:     pb.SettingType_SETTING_TYPE_LIST,
}

// Settings converts setting declarations; an unknown type becomes
// SETTING_TYPE_UNSPECIFIED (a string).
func Settings(ss []factors.Setting) []*pb.Setting {
	if ss == nil {
		return nil
	}
	out := make([]*pb.Setting, len(ss))
	for i, s := range ss {
		out[i] = &pb.Setting{Name: s.Name, Type: settingTypes[s.Type], Required: s.Required, Secret: s.Secret,
			DefaultValue: s.Default, Description: s.Description}
	}
	return out
}

func ConfigureRequest(r *factors.ConfigureRequest) *pb.ConfigureRequest {
	if r == nil {
		return nil
	}
	return &pb.ConfigureRequest{Settings: r.Settings}
}

func ConfigureResponse(r *factors.ConfigureResponse) *pb.ConfigureResponse {
	if r == nil {
		return nil
	}
	return &pb.ConfigureResponse{}
}

func BeginEnrollmentRequest(r *factors.BeginEnrollmentRequest) *pb.BeginEnrollmentRequest {
	if r == nil {
		return nil
	}
	return &pb.BeginEnrollmentRequest{User: User(&r.User), Label: r.Label, Existing: Credentials(r.Existing)}
}

func BeginEnrollmentResponse(r *factors.BeginEnrollmentResponse) *pb.BeginEnrollmentResponse {
	if r == nil {
		return nil
	}
	return &pb.BeginEnrollmentResponse{ClientData: r.ClientData, PendingState: r.PendingState}
}

func FinishEnrollmentRequest(r *factors.FinishEnrollmentRequest) *pb.FinishEnrollmentRequest {
	if r == nil {
		return nil
	}
	return &pb.FinishEnrollmentRequest{User: User(&r.User), PendingState: r.PendingState, Response: r.Response}
}

func FinishEnrollmentResponse(r *factors.FinishEnrollmentResponse) *pb.FinishEnrollmentResponse {
	if r == nil {
		return nil
	}
	return &pb.FinishEnrollmentResponse{State: r.State, Label: r.Label, ExternalId: r.ExternalID, Metadata: r.Metadata}
}

func BeginVerificationRequest(r *factors.BeginVerificationRequest) *pb.BeginVerificationRequest {
	if r == nil {
		return nil
	}
	return &pb.BeginVerificationRequest{User: User(&r.User), Credentials: Credentials(r.Credentials), SessionState: r.SessionState}
}

func BeginVerificationResponse(r *factors.BeginVerificationResponse) *pb.BeginVerificationResponse {
	if r == nil {
		return nil
	}
	return &pb.BeginVerificationResponse{ClientData: r.ClientData, SessionState: r.SessionState}
}

func FinishVerificationRequest(r *factors.FinishVerificationRequest) *pb.FinishVerificationRequest {
	if r == nil {
		return nil
	}
	return &pb.FinishVerificationRequest{User: User(&r.User), Credential: Credential(&r.Credential),
		SessionState: r.SessionState, Response: r.Response}
}

// FinishVerificationResponse sets MetadataSet because proto3 cannot tell a
// nil map (keep the metadata) from an empty one (clear it).
func FinishVerificationResponse(r *factors.FinishVerificationResponse) *pb.FinishVerificationResponse {
	if r == nil {
		return nil
	}
	return &pb.FinishVerificationResponse{State: r.State, Metadata: r.Metadata, MetadataSet: r.Metadata != nil}
}

func IdentifyCredentialRequest(r *factors.IdentifyCredentialRequest) *pb.IdentifyCredentialRequest {
	if r == nil {
		return nil
	}
	return &pb.IdentifyCredentialRequest{Response: r.Response}
}

func IdentifyCredentialResponse(r *factors.IdentifyCredentialResponse) *pb.IdentifyCredentialResponse {
	if r == nil {
		return nil
	}
	return &pb.IdentifyCredentialResponse{ExternalId: r.ExternalID, UserId: r.UserID}
}

// kinds maps each sentinel to its wire kind and to the gRPC code that best
// describes it to tools that only read codes (grpcurl, logs).
var kinds = []struct {
	err  error
	kind pb.ErrorKind
	code codes.Code
}{
	{factors.ErrBadRequest, pb.ErrorKind_ERROR_KIND_BAD_REQUEST, codes.InvalidArgument},
	{factors.ErrInvalidResponse, pb.ErrorKind_ERROR_KIND_INVALID_RESPONSE, codes.PermissionDenied},
	{factors.ErrReplay, pb.ErrorKind_ERROR_KIND_REPLAY, codes.AlreadyExists},
	{factors.ErrCloneWarning, pb.ErrorKind_ERROR_KIND_CLONE_WARNING, codes.PermissionDenied},
	{factors.ErrAttestationRefused, pb.ErrorKind_ERROR_KIND_ATTESTATION_REFUSED, codes.FailedPrecondition},
	{factors.ErrUserVerificationRequired, pb.ErrorKind_ERROR_KIND_USER_VERIFICATION_REQUIRED, codes.PermissionDenied},
	{factors.ErrUnsupported, pb.ErrorKind_ERROR_KIND_UNSUPPORTED, codes.Unimplemented},
	{factors.ErrRateLimited, pb.ErrorKind_ERROR_KIND_RATE_LIMITED, codes.ResourceExhausted},
}

// Error turns a factor's error into a gRPC status that carries its kind and
// detail as a FactorError, so the host can rebuild the sentinel (like
// Vault's ErrToProtoErr). Errors that wrap no sentinel become Internal.
func Error(err error) error {
	if err == nil {
		return nil
	}
	var fe *factors.Error
	detail := ""
	if errors.As(err, &fe) {
		detail = fe.Detail
	}
	for _, k := range kinds {
		if !errors.Is(err, k.err) {
			continue
		}
		st, derr := status.New(k.code, err.Error()).WithDetails(&pb.FactorError{Kind: k.kind, Detail: detail})
		if derr != nil {
			return status.Error(codes.Internal, derr.Error())
		}
		return st.Err()
	}
	return status.Error(codes.Internal, err.Error())
}
