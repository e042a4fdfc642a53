package wire

import (
	"context"

	"google.golang.org/grpc"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/internal/fromproto"
	"github.com/twofoldauth/twofold/factors/internal/toproto"
	pb "github.com/twofoldauth/twofold/factors/proto"
)

// Client is a factors.Factor that calls a plugin over gRPC (host side).
// Typed failures come back as *factors.Error; transport errors are left
// as gRPC statuses for the host to classify.
type Client struct {
	c pb.FactorClient
	// hostService is the broker id of the Host service served to this
	// plugin process (0: none); Configure tells the plugin.
	hostService uint32
}

var _ factors.Factor = (*Client)(nil)

// NewClient returns a Client on conn.
func NewClient(conn grpc.ClientConnInterface) *Client { return &Client{c: pb.NewFactorClient(conn)} }

func answer[P, T any](r *P, err error, from func(*P) *T) (*T, error) {
	if err != nil {
		return nil, fromproto.Error(err)
	}
	return from(r), nil
}

func (c *Client) Describe(ctx context.Context, req *factors.DescribeRequest) (*factors.DescribeResponse, error) {
	r, err := c.c.Describe(ctx, toproto.DescribeRequest(req))
	return answer(r, err, fromproto.DescribeResponse)
}

func (c *Client) Configure(ctx context.Context, req *factors.ConfigureRequest) (*factors.ConfigureResponse, error) {
	pr := toproto.ConfigureRequest(req)
	if pr != nil {
		pr.HostService = c.hostService
	}
	r, err := c.c.Configure(ctx, pr)
	return answer(r, err, fromproto.ConfigureResponse)
}

func (c *Client) BeginEnrollment(ctx context.Context, req *factors.BeginEnrollmentRequest) (*factors.BeginEnrollmentResponse, error) {
	r, err := c.c.BeginEnrollment(ctx, toproto.BeginEnrollmentRequest(req))
	return answer(r, err, fromproto.BeginEnrollmentResponse)
}

func (c *Client) FinishEnrollment(ctx context.Context, req *factors.FinishEnrollmentRequest) (*factors.FinishEnrollmentResponse, error) {
	r, err := c.c.FinishEnrollment(ctx, toproto.FinishEnrollmentRequest(req))
	return answer(r, err, fromproto.FinishEnrollmentResponse)
}

func (c *Client) BeginVerification(ctx context.Context, req *factors.BeginVerificationRequest) (*factors.BeginVerificationResponse, error) {
	r, err := c.c.BeginVerification(ctx, toproto.BeginVerificationRequest(req))
	return answer(r, err, fromproto.BeginVerificationResponse)
}

func (c *Client) FinishVerification(ctx context.Context, req *factors.FinishVerificationRequest) (*factors.FinishVerificationResponse, error) {
	r, err := c.c.FinishVerification(ctx, toproto.FinishVerificationRequest(req))
	return answer(r, err, fromproto.FinishVerificationResponse)
}

func (c *Client) IdentifyCredential(ctx context.Context, req *factors.IdentifyCredentialRequest) (*factors.IdentifyCredentialResponse, error) {
	r, err := c.c.IdentifyCredential(ctx, toproto.IdentifyCredentialRequest(req))
	return answer(r, err, fromproto.IdentifyCredentialResponse)
}
