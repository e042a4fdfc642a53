package wire

import (
	"context"
	"encoding/json"

	"github.com/twofoldauth/twofold/factors"
	pb "github.com/twofoldauth/twofold/factors/proto"
)

func toUser(u factors.User) *pb.User {
	return &pb.User{Id: u.ID, Name: u.Name, DisplayName: u.DisplayName, Organization: u.Organization}
}

func fromUser(u *pb.User) factors.User {
	if u == nil {
		return factors.User{}
	}
	return factors.User{ID: u.Id, Name: u.Name, DisplayName: u.DisplayName, Organization: u.Organization}
}

func toCredential(c factors.Credential) *pb.Credential {
	return &pb.Credential{Id: c.ID, ExternalId: c.ExternalID, State: c.State}
}

func fromCredential(c *pb.Credential) factors.Credential {
	if c == nil {
		return factors.Credential{}
	}
	return factors.Credential{ID: c.Id, ExternalID: c.ExternalId, State: c.State}
}

func toCredentials(cs []factors.Credential) []*pb.Credential {
	out := make([]*pb.Credential, len(cs))
	for i, c := range cs {
		out[i] = toCredential(c)
	}
	return out
}

func fromCredentials(cs []*pb.Credential) []factors.Credential {
	out := make([]factors.Credential, len(cs))
	for i, c := range cs {
		out[i] = fromCredential(c)
	}
	return out
}

// Server forwards gRPC calls to a factors.Factor (plugin side).
type Server struct {
	pb.UnimplementedFactorServer
	Impl factors.Factor
}

func (s *Server) Describe(ctx context.Context, _ *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	r, err := s.Impl.Describe(ctx, &factors.DescribeRequest{})
	if err != nil {
		return nil, toStatus(err)
	}
	caps := make([]string, len(r.Capabilities))
	for i, c := range r.Capabilities {
		caps[i] = string(c)
	}
	return &pb.DescribeResponse{Id: r.ID, DisplayName: r.DisplayName, Version: r.Version,
		ProtocolVersion: int32(r.ProtocolVersion), Capabilities: caps, Settings: r.Settings}, nil
}

func (s *Server) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	if _, err := s.Impl.Configure(ctx, &factors.ConfigureRequest{Settings: req.Settings}); err != nil {
		return nil, toStatus(err)
	}
	return &pb.ConfigureResponse{}, nil
}

func (s *Server) BeginEnrollment(ctx context.Context, req *pb.BeginEnrollmentRequest) (*pb.BeginEnrollmentResponse, error) {
	r, err := s.Impl.BeginEnrollment(ctx, &factors.BeginEnrollmentRequest{User: fromUser(req.User), Label: req.Label, Existing: fromCredentials(req.Existing)})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.BeginEnrollmentResponse{ClientData: r.ClientData, PendingState: r.PendingState}, nil
}

func (s *Server) FinishEnrollment(ctx context.Context, req *pb.FinishEnrollmentRequest) (*pb.FinishEnrollmentResponse, error) {
	r, err := s.Impl.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{User: fromUser(req.User), PendingState: req.PendingState, Response: req.Response})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.FinishEnrollmentResponse{State: r.State, Label: r.Label, ExternalId: r.ExternalID, Metadata: r.Metadata}, nil
}

func (s *Server) BeginVerification(ctx context.Context, req *pb.BeginVerificationRequest) (*pb.BeginVerificationResponse, error) {
	r, err := s.Impl.BeginVerification(ctx, &factors.BeginVerificationRequest{User: fromUser(req.User), Credentials: fromCredentials(req.Credentials)})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.BeginVerificationResponse{ClientData: r.ClientData, SessionState: r.SessionState}, nil
}

func (s *Server) FinishVerification(ctx context.Context, req *pb.FinishVerificationRequest) (*pb.FinishVerificationResponse, error) {
	r, err := s.Impl.FinishVerification(ctx, &factors.FinishVerificationRequest{
		User: fromUser(req.User), Credential: fromCredential(req.Credential), SessionState: req.SessionState, Response: req.Response,
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.FinishVerificationResponse{State: r.State, Metadata: r.Metadata, MetadataSet: r.Metadata != nil}, nil
}

func (s *Server) IdentifyCredential(ctx context.Context, req *pb.IdentifyCredentialRequest) (*pb.IdentifyCredentialResponse, error) {
	r, err := s.Impl.IdentifyCredential(ctx, &factors.IdentifyCredentialRequest{Response: req.Response})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.IdentifyCredentialResponse{ExternalId: r.ExternalID, UserId: r.UserID}, nil
}

// Client is a factors.Factor that calls a plugin over gRPC (host side).
type Client struct {
	c pb.FactorClient
}

var _ factors.Factor = (*Client)(nil)

func (c *Client) Describe(ctx context.Context, _ *factors.DescribeRequest) (*factors.DescribeResponse, error) {
	r, err := c.c.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return nil, fromStatus(err)
	}
	caps := make([]factors.Capability, len(r.Capabilities))
	for i, s := range r.Capabilities {
		caps[i] = factors.Capability(s)
	}
	return &factors.DescribeResponse{ID: r.Id, DisplayName: r.DisplayName, Version: r.Version,
		ProtocolVersion: int(r.ProtocolVersion), Capabilities: caps, Settings: r.Settings}, nil
}

func (c *Client) Configure(ctx context.Context, req *factors.ConfigureRequest) (*factors.ConfigureResponse, error) {
	if _, err := c.c.Configure(ctx, &pb.ConfigureRequest{Settings: req.Settings}); err != nil {
		return nil, fromStatus(err)
	}
	return &factors.ConfigureResponse{}, nil
}

func (c *Client) BeginEnrollment(ctx context.Context, req *factors.BeginEnrollmentRequest) (*factors.BeginEnrollmentResponse, error) {
	r, err := c.c.BeginEnrollment(ctx, &pb.BeginEnrollmentRequest{User: toUser(req.User), Label: req.Label, Existing: toCredentials(req.Existing)})
	if err != nil {
		return nil, fromStatus(err)
	}
	return &factors.BeginEnrollmentResponse{ClientData: json.RawMessage(r.ClientData), PendingState: r.PendingState}, nil
}

func (c *Client) FinishEnrollment(ctx context.Context, req *factors.FinishEnrollmentRequest) (*factors.FinishEnrollmentResponse, error) {
	r, err := c.c.FinishEnrollment(ctx, &pb.FinishEnrollmentRequest{User: toUser(req.User), PendingState: req.PendingState, Response: req.Response})
	if err != nil {
		return nil, fromStatus(err)
	}
	return &factors.FinishEnrollmentResponse{State: r.State, Label: r.Label, ExternalID: r.ExternalId, Metadata: r.Metadata}, nil
}

func (c *Client) BeginVerification(ctx context.Context, req *factors.BeginVerificationRequest) (*factors.BeginVerificationResponse, error) {
	r, err := c.c.BeginVerification(ctx, &pb.BeginVerificationRequest{User: toUser(req.User), Credentials: toCredentials(req.Credentials)})
	if err != nil {
		return nil, fromStatus(err)
	}
	return &factors.BeginVerificationResponse{ClientData: json.RawMessage(r.ClientData), SessionState: r.SessionState}, nil
}

func (c *Client) FinishVerification(ctx context.Context, req *factors.FinishVerificationRequest) (*factors.FinishVerificationResponse, error) {
	r, err := c.c.FinishVerification(ctx, &pb.FinishVerificationRequest{
		User: toUser(req.User), Credential: toCredential(req.Credential), SessionState: req.SessionState, Response: req.Response,
	})
	if err != nil {
		return nil, fromStatus(err)
	}
	out := &factors.FinishVerificationResponse{State: r.State}
	if r.MetadataSet {
		out.Metadata = r.Metadata
		if out.Metadata == nil {
			out.Metadata = map[string]string{}
		}
	}
	return out, nil
}

func (c *Client) IdentifyCredential(ctx context.Context, req *factors.IdentifyCredentialRequest) (*factors.IdentifyCredentialResponse, error) {
	r, err := c.c.IdentifyCredential(ctx, &pb.IdentifyCredentialRequest{Response: req.Response})
	if err != nil {
		return nil, fromStatus(err)
	}
	return &factors.IdentifyCredentialResponse{ExternalID: r.ExternalId, UserID: r.UserId}, nil
}
