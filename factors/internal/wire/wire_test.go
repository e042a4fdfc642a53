package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/twofoldauth/twofold/factors"
	"github.com/twofoldauth/twofold/factors/internal/fromproto"
	"github.com/twofoldauth/twofold/factors/internal/toproto"
	pb "github.com/twofoldauth/twofold/factors/proto"
)

var (
	user  = factors.User{ID: "u1", Name: "alice", DisplayName: "Alice", Organization: "acme"}
	cred  = factors.Credential{ID: "e1", ExternalID: []byte{1, 2}, State: []byte("state")}
	creds = []factors.Credential{cred, {ID: "e2"}}

	describe = &factors.DescribeResponse{ID: "fake", DisplayName: "Fake", Version: "1.2.3", ProtocolVersion: 1,
		Capabilities: []factors.Capability{factors.CapabilityPasswordless}, Settings: map[string]string{"k": "v"},
		SettingSchema: []factors.Setting{{Name: "k", Type: factors.SettingDuration, Required: true, Secret: true, Default: "5m", Description: "v"}}}
	beginEnrollment    = &factors.BeginEnrollmentResponse{ClientData: json.RawMessage(`{"a":1}`), PendingState: []byte("p")}
	finishEnrollment   = &factors.FinishEnrollmentResponse{State: []byte("s"), Label: "Key", ExternalID: []byte{9}, Metadata: map[string]string{"aaguid": "x"}}
	beginVerification  = &factors.BeginVerificationResponse{ClientData: json.RawMessage(`{}`), SessionState: []byte("sess")}
	finishVerification = &factors.FinishVerificationResponse{State: []byte("s2"), Metadata: map[string]string{}}
	identify           = &factors.IdentifyCredentialResponse{ExternalID: []byte{7}, UserID: "u1"}
)

// fake records the last request and answers with resp, or the canned
// response, or err, or nothing at all when blank is set.
type fake struct {
	req   any
	resp  any
	err   error
	blank bool
}

func canned[T any](f *fake, req any, resp *T) (*T, error) {
	f.req = req
	switch {
	case f.err != nil || f.blank:
		return nil, f.err
	case f.resp != nil:
		return f.resp.(*T), nil
	}
	return resp, nil
}

func (f *fake) Describe(_ context.Context, r *factors.DescribeRequest) (*factors.DescribeResponse, error) {
	return canned(f, r, describe)
}
func (f *fake) Configure(_ context.Context, r *factors.ConfigureRequest) (*factors.ConfigureResponse, error) {
	return canned(f, r, &factors.ConfigureResponse{})
}
func (f *fake) BeginEnrollment(_ context.Context, r *factors.BeginEnrollmentRequest) (*factors.BeginEnrollmentResponse, error) {
	return canned(f, r, beginEnrollment)
}
func (f *fake) FinishEnrollment(_ context.Context, r *factors.FinishEnrollmentRequest) (*factors.FinishEnrollmentResponse, error) {
	return canned(f, r, finishEnrollment)
}
func (f *fake) BeginVerification(_ context.Context, r *factors.BeginVerificationRequest) (*factors.BeginVerificationResponse, error) {
	return canned(f, r, beginVerification)
}
func (f *fake) FinishVerification(_ context.Context, r *factors.FinishVerificationRequest) (*factors.FinishVerificationResponse, error) {
	return canned(f, r, finishVerification)
}
func (f *fake) IdentifyCredential(_ context.Context, r *factors.IdentifyCredentialRequest) (*factors.IdentifyCredentialResponse, error) {
	return canned(f, r, identify)
}

// connect serves impl over an in-memory gRPC connection and returns the
// host-side client.
func connect(t *testing.T, impl factors.Factor) *Client {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	pb.RegisterFactorServer(srv, &Server{Impl: impl})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return NewClient(conn)
}

// calls makes each method's call with a fully populated request.
var calls = map[string]struct {
	req  any
	want any
	do   func(context.Context, factors.Factor, any) (any, error)
}{
	"Describe": {&factors.DescribeRequest{}, describe, func(ctx context.Context, f factors.Factor, r any) (any, error) {
		return f.Describe(ctx, r.(*factors.DescribeRequest))
	}},
	"Configure": {&factors.ConfigureRequest{Settings: map[string]string{"digits": "8"}}, &factors.ConfigureResponse{}, func(ctx context.Context, f factors.Factor, r any) (any, error) {
		return f.Configure(ctx, r.(*factors.ConfigureRequest))
	}},
	"BeginEnrollment": {&factors.BeginEnrollmentRequest{User: user, Label: "phone", Existing: creds}, beginEnrollment, func(ctx context.Context, f factors.Factor, r any) (any, error) {
		return f.BeginEnrollment(ctx, r.(*factors.BeginEnrollmentRequest))
	}},
	"FinishEnrollment": {&factors.FinishEnrollmentRequest{User: user, PendingState: []byte("p"), Response: json.RawMessage(`{"code":"1"}`)}, finishEnrollment, func(ctx context.Context, f factors.Factor, r any) (any, error) {
		return f.FinishEnrollment(ctx, r.(*factors.FinishEnrollmentRequest))
	}},
	"BeginVerification": {&factors.BeginVerificationRequest{User: user, Credentials: creds}, beginVerification, func(ctx context.Context, f factors.Factor, r any) (any, error) {
		return f.BeginVerification(ctx, r.(*factors.BeginVerificationRequest))
	}},
	"FinishVerification": {&factors.FinishVerificationRequest{User: user, Credential: cred, SessionState: []byte("sess"), Response: json.RawMessage(`{}`)}, finishVerification, func(ctx context.Context, f factors.Factor, r any) (any, error) {
		return f.FinishVerification(ctx, r.(*factors.FinishVerificationRequest))
	}},
	"IdentifyCredential": {&factors.IdentifyCredentialRequest{Response: json.RawMessage(`{"id":"x"}`)}, identify, func(ctx context.Context, f factors.Factor, r any) (any, error) {
		return f.IdentifyCredential(ctx, r.(*factors.IdentifyCredentialRequest))
	}},
}

func TestEveryFieldCrossesTheBoundary(t *testing.T) {
	impl := &fake{}
	c := connect(t, impl)
	for name, tc := range calls {
		t.Run(name, func(t *testing.T) {
			got, err := tc.do(context.Background(), c, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.req, impl.req); diff != "" {
				t.Errorf("request as the plugin saw it (-sent +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("response as the host saw it (-sent +got):\n%s", diff)
			}
		})
	}
}

// Nil metadata keeps the credential's metadata; empty metadata clears it.
func TestNilMetadataStaysNil(t *testing.T) {
	impl := &fake{resp: &factors.FinishVerificationResponse{State: []byte("s")}}
	got, err := connect(t, impl).FinishVerification(context.Background(), &factors.FinishVerificationRequest{})
	if err != nil || got.Metadata != nil {
		t.Fatalf("got %+v, %v; want nil metadata", got, err)
	}
}

func TestErrorsCrossTheBoundary(t *testing.T) {
	sentinels := []error{factors.ErrBadRequest, factors.ErrInvalidResponse, factors.ErrReplay, factors.ErrCloneWarning,
		factors.ErrAttestationRefused, factors.ErrUserVerificationRequired, factors.ErrUnsupported}
	for _, kind := range sentinels {
		for name, sent := range map[string]error{
			"typed":   factors.Errorf(kind, "the detail"),
			"wrapped": fmt.Errorf("context: %w", kind),
		} {
			t.Run(kind.Error()+"/"+name, func(t *testing.T) {
				_, err := connect(t, &fake{err: sent}).FinishVerification(context.Background(), &factors.FinishVerificationRequest{})
				var fe *factors.Error
				if !errors.Is(err, kind) || !errors.As(err, &fe) {
					t.Fatalf("got %v, want a *factors.Error wrapping %v", err, kind)
				}
				var want string
				if sentFE := (*factors.Error)(nil); errors.As(sent, &sentFE) {
					want = sentFE.Detail
				}
				if fe.Detail != want {
					t.Fatalf("detail %q, want %q", fe.Detail, want)
				}
			})
		}
	}
	for name, impl := range map[string]*fake{
		"untyped":  {err: errors.New("disk on fire")},
		"no reply": {blank: true},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := connect(t, impl).Describe(context.Background(), &factors.DescribeRequest{})
			var fe *factors.Error
			if err == nil || errors.As(err, &fe) {
				t.Fatalf("got %v, want an untyped error", err)
			}
		})
	}
}

// A version 2 plugin's declarations reach a version 1 host as the map of
// descriptions, and the version the handshake chose overrides Describe's.
func TestSchemaFillsTheVersion1Map(t *testing.T) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	pb.RegisterFactorServer(srv, &Server{Impl: &fake{resp: &factors.DescribeResponse{ID: "x", ProtocolVersion: 2,
		SettingSchema: []factors.Setting{{Name: "a", Description: "the a"}, {Name: "b", Type: factors.SettingInt}}}}, Version: 1})
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	d, err := NewClient(conn).Describe(context.Background(), &factors.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d.ProtocolVersion != 1 {
		t.Errorf("protocol version %d, want the negotiated 1", d.ProtocolVersion)
	}
	if diff := cmp.Diff(map[string]string{"a": "the a", "b": ""}, d.Settings); diff != "" {
		t.Errorf("version 1 map (-want +got):\n%s", diff)
	}
	if d.SettingSchema[1].Type != factors.SettingInt {
		t.Errorf("schema: %+v", d.SettingSchema)
	}
}

func TestConvertersMapNilToNil(t *testing.T) {
	for name, got := range map[string]any{
		"toproto.User":                        toproto.User(nil),
		"toproto.Credential":                  toproto.Credential(nil),
		"toproto.Credentials":                 toproto.Credentials(nil),
		"toproto.FinishVerificationResponse":  toproto.FinishVerificationResponse(nil),
		"toproto.Error":                       toproto.Error(nil),
		"fromproto.User":                      fromproto.User(nil),
		"fromproto.Credentials":               fromproto.Credentials(nil),
		"fromproto.FinishVerificationRequest": fromproto.FinishVerificationRequest(nil),
		"fromproto.Error":                     fromproto.Error(nil),
	} {
		if v := reflect.ValueOf(got); v.IsValid() && !v.IsNil() {
			t.Errorf("%s(nil) = %v", name, got)
		}
	}
}
