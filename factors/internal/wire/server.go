package wire

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/internal/fromproto"
	"github.com/twofoldauth/twofold/factors/internal/toproto"
	pb "github.com/twofoldauth/twofold/factors/proto"
)

// Server forwards gRPC calls to a factors.Factor (plugin side).
type Server struct {
	pb.UnimplementedFactorServer
	Impl factors.Factor
	// Version, when set, is the contract version the handshake chose; Describe
	// answers with it, whatever the factor says, so a plugin built on a newer
	// SDK tells an older host the version it is actually served at.
	Version int
	// host is the connection to the host's Host service.
	host *hostConn
}

// call is ctx with the Call of the host request being served.
func (s *Server) call(ctx context.Context, user *pb.User) context.Context {
	return withCall(ctx, s.host, user.GetId())
}

// reply converts a factor's answer; a factor that returns neither a
// response nor an error has a bug the host should hear about, not a nil
// message that decodes as an empty success.
func reply[T, P any](r *T, err error, to func(*T) *P) (*P, error) {
	if err != nil {
		return nil, toproto.Error(err)
	}
	if r == nil {
		return nil, status.Error(codes.Internal, "the factor returned neither a response nor an error")
	}
	return to(r), nil
}

func (s *Server) Describe(ctx context.Context, req *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	r, err := s.Impl.Describe(s.call(ctx, nil), fromproto.DescribeRequest(req))
	if r != nil && s.Version != 0 {
		c := *r
		c.ProtocolVersion = s.Version
		r = &c
	}
	return reply(r, err, toproto.DescribeResponse)
}

func (s *Server) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	if s.host != nil {
		s.host.configure(req.GetHostService())
	}
	r, err := s.Impl.Configure(s.call(ctx, nil), fromproto.ConfigureRequest(req))
	return reply(r, err, toproto.ConfigureResponse)
}

func (s *Server) BeginEnrollment(ctx context.Context, req *pb.BeginEnrollmentRequest) (*pb.BeginEnrollmentResponse, error) {
	r, err := s.Impl.BeginEnrollment(s.call(ctx, req.User), fromproto.BeginEnrollmentRequest(req))
	return reply(r, err, toproto.BeginEnrollmentResponse)
}

func (s *Server) FinishEnrollment(ctx context.Context, req *pb.FinishEnrollmentRequest) (*pb.FinishEnrollmentResponse, error) {
	r, err := s.Impl.FinishEnrollment(s.call(ctx, req.User), fromproto.FinishEnrollmentRequest(req))
	return reply(r, err, toproto.FinishEnrollmentResponse)
}

func (s *Server) BeginVerification(ctx context.Context, req *pb.BeginVerificationRequest) (*pb.BeginVerificationResponse, error) {
	r, err := s.Impl.BeginVerification(s.call(ctx, req.User), fromproto.BeginVerificationRequest(req))
	return reply(r, err, toproto.BeginVerificationResponse)
}

func (s *Server) FinishVerification(ctx context.Context, req *pb.FinishVerificationRequest) (*pb.FinishVerificationResponse, error) {
	r, err := s.Impl.FinishVerification(s.call(ctx, req.User), fromproto.FinishVerificationRequest(req))
	return reply(r, err, toproto.FinishVerificationResponse)
}

func (s *Server) IdentifyCredential(ctx context.Context, req *pb.IdentifyCredentialRequest) (*pb.IdentifyCredentialResponse, error) {
	r, err := s.Impl.IdentifyCredential(s.call(ctx, nil), fromproto.IdentifyCredentialRequest(req))
	return reply(r, err, toproto.IdentifyCredentialResponse)
}
