package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/twofoldauth/twofold/factors/proto"
)

// Metadata keys the host puts on each call to a plugin, and a plugin puts
// on its calls to the Host service.
const (
	// GrantKey carries the grant of a ceremony call: an opaque token the
	// host minted for the one user the call serves, valid until the call
	// returns. The plugin hands it back on Host calls made while serving.
	GrantKey = "twofold-host-grant"
	// TimeKey carries the host's clock (RFC 3339, nanoseconds), so a
	// factor's expiries follow the host's time.
	TimeKey = "twofold-host-time"
)

// Errors of the Host service; they cross the process boundary as gRPC
// codes and come back as these values.
var (
	// ErrNoHost: the call has no Host service (a host older than protocol
	// version 2, or a call outside a ceremony).
	ErrNoHost = errors.New("host services are not available to this call")
	// ErrRefused: the grant is missing, expired or for another user.
	ErrRefused = errors.New("host refused: the current call does not serve this user")
	// ErrInvalid: a malformed request (empty subject, text too long...).
	ErrInvalid = errors.New("host refused: invalid request")
	// ErrTooMany: the user was sent too many messages lately.
	ErrTooMany = errors.New("host refused: too many messages")
	// ErrUnavailable: the host could not do it now; try again later.
	ErrUnavailable = errors.New("host service unavailable")
)

var hostCodes = []struct {
	err  error
	code codes.Code
}{
	{ErrRefused, codes.PermissionDenied},
	{ErrInvalid, codes.InvalidArgument},
	{ErrTooMany, codes.ResourceExhausted},
	{ErrNoHost, codes.Unimplemented},
}

// Message is a DeliverMessage request.
type Message struct {
	UserID  string
	Channel string // "email"
	Subject string
	Text    string
}

// HostServices is what the host serves to one plugin process (host side).
// Errors should wrap ErrRefused, ErrInvalid or ErrTooMany; anything else
// reaches the plugin as ErrUnavailable.
type HostServices interface {
	DeliverMessage(ctx context.Context, grant string, m Message) error
	Log(ctx context.Context, level slog.Level, msg string, attrs map[string]string)
	Metric(ctx context.Context, name string, value float64) error
}

// serveHost serves impl on a new broker id and returns the id (host side).
func serveHost(broker *plugin.GRPCBroker, impl HostServices) uint32 {
	id := broker.NextId()
	go broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(opts...)
		pb.RegisterHostServer(s, &hostServer{impl: impl})
		return s
	})
	return id
}

type hostServer struct {
	pb.UnimplementedHostServer
	impl HostServices
}

func incoming(ctx context.Context, key string) string {
	if v := metadata.ValueFromIncomingContext(ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func hostStatus(err error) error {
	if err == nil {
		return nil
	}
	for _, c := range hostCodes {
		if errors.Is(err, c.err) {
			return status.Error(c.code, err.Error())
		}
	}
	return status.Error(codes.Unavailable, ErrUnavailable.Error())
}

func (h *hostServer) DeliverMessage(ctx context.Context, req *pb.DeliverMessageRequest) (*pb.DeliverMessageResponse, error) {
	channel := "email"
	if req.Channel != pb.Channel_CHANNEL_EMAIL && req.Channel != pb.Channel_CHANNEL_UNSPECIFIED {
		return nil, hostStatus(fmt.Errorf("%w: unknown channel %v", ErrInvalid, req.Channel))
	}
	err := h.impl.DeliverMessage(ctx, incoming(ctx, GrantKey), Message{UserID: req.UserId, Channel: channel, Subject: req.Subject, Text: req.Text})
	if err != nil {
		return nil, hostStatus(err)
	}
	return &pb.DeliverMessageResponse{}, nil
}

func (h *hostServer) Log(ctx context.Context, req *pb.LogRequest) (*pb.LogResponse, error) {
	h.impl.Log(ctx, slogLevelOf(req.Level), req.Message, req.Attrs)
	return &pb.LogResponse{}, nil
}

func (h *hostServer) Metric(ctx context.Context, req *pb.MetricRequest) (*pb.MetricResponse, error) {
	if err := h.impl.Metric(ctx, req.Name, req.Value); err != nil {
		return nil, hostStatus(err)
	}
	return &pb.MetricResponse{}, nil
}

func slogLevelOf(l pb.LogLevel) slog.Level {
	switch l {
	case pb.LogLevel_LOG_LEVEL_DEBUG:
		return slog.LevelDebug
	case pb.LogLevel_LOG_LEVEL_WARN:
		return slog.LevelWarn
	case pb.LogLevel_LOG_LEVEL_ERROR:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func logLevelOf(l slog.Level) pb.LogLevel {
	switch {
	case l >= slog.LevelError:
		return pb.LogLevel_LOG_LEVEL_ERROR
	case l >= slog.LevelWarn:
		return pb.LogLevel_LOG_LEVEL_WARN
	case l >= slog.LevelInfo:
		return pb.LogLevel_LOG_LEVEL_INFO
	}
	return pb.LogLevel_LOG_LEVEL_DEBUG
}

// hostConn is the plugin side's connection to the Host service of its
// host, dialled over the broker on first use.
type hostConn struct {
	broker *plugin.GRPCBroker
	mu     sync.Mutex
	id     uint32
	client pb.HostClient
}

// configure records the broker id the host serves the Host service on
// (ConfigureRequest.host_service; 0: none).
func (h *hostConn) configure(id uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if id != h.id {
		h.id, h.client = id, nil
	}
}

func (h *hostConn) get() (pb.HostClient, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.client != nil {
		return h.client, nil
	}
	if h.id == 0 || h.broker == nil {
		return nil, ErrNoHost
	}
	conn, err := h.broker.Dial(h.id)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	h.client = pb.NewHostClient(conn)
	return h.client, nil
}

// Call is what a plugin knows of the host call it is serving: the user,
// the grant and the host's time. Factor methods find it in their context
// (CallFrom).
type Call struct {
	conn *hostConn
	// UserID is the user the call serves ("" for calls that serve none).
	UserID string
	grant  string
	now    time.Time // the host's clock when the call arrived
	at     time.Time // the local clock then
}

type callKey struct{}

// CallFrom returns the call ctx serves, or nil outside a call from the
// host.
func CallFrom(ctx context.Context) *Call {
	c, _ := ctx.Value(callKey{}).(*Call)
	return c
}

// withCall is ctx with the Call of an incoming gRPC request serving userID.
func withCall(ctx context.Context, conn *hostConn, userID string) context.Context {
	c := &Call{conn: conn, UserID: userID, grant: incoming(ctx, GrantKey), at: time.Now()}
	if t, err := time.Parse(time.RFC3339Nano, incoming(ctx, TimeKey)); err == nil {
		c.now = t
	}
	return context.WithValue(ctx, callKey{}, c)
}

// Now is the host's time when it made the call, moved on by the time
// elapsed since; the local clock when the host sent none.
func (c *Call) Now() time.Time {
	if c == nil || c.now.IsZero() {
		return time.Now().UTC()
	}
	return c.now.Add(time.Since(c.at))
}

func (c *Call) client(ctx context.Context) (pb.HostClient, context.Context, error) {
	if c == nil || c.conn == nil {
		return nil, ctx, ErrNoHost
	}
	cl, err := c.conn.get()
	if err != nil {
		return nil, ctx, err
	}
	return cl, metadata.AppendToOutgoingContext(ctx, GrantKey, c.grant), nil
}

// fromHost turns a Host service status back into its sentinel.
func fromHost(err error) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	for _, c := range hostCodes {
		if st.Code() == c.code {
			msg := strings.TrimPrefix(strings.TrimPrefix(st.Message(), c.err.Error()), ": ")
			if msg == "" {
				return c.err
			}
			return fmt.Errorf("%w: %s", c.err, msg)
		}
	}
	return fmt.Errorf("%w: %s", ErrUnavailable, st.Message())
}

// DeliverTo asks the host to send a message to userID by email. The SDK
// only ever passes the user the call serves; tests pass others to see the
// host refuse.
func (c *Call) DeliverTo(ctx context.Context, userID, subject, text string) error {
	cl, ctx, err := c.client(ctx)
	if err != nil {
		return err
	}
	_, err = cl.DeliverMessage(ctx, &pb.DeliverMessageRequest{UserId: userID, Channel: pb.Channel_CHANNEL_EMAIL, Subject: subject, Text: text})
	return fromHost(err)
}

// Log writes a line to the host's log.
func (c *Call) Log(ctx context.Context, level slog.Level, msg string, attrs map[string]string) error {
	cl, ctx, err := c.client(ctx)
	if err != nil {
		return err
	}
	_, err = cl.Log(ctx, &pb.LogRequest{Level: logLevelOf(level), Message: msg, Attrs: attrs})
	return fromHost(err)
}

// Metric adds value to the host's counter for name.
func (c *Call) Metric(ctx context.Context, name string, value float64) error {
	cl, ctx, err := c.client(ctx)
	if err != nil {
		return err
	}
	_, err = cl.Metric(ctx, &pb.MetricRequest{Name: name, Value: value})
	return fromHost(err)
}
