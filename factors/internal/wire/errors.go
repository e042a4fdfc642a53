package wire

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twofoldauth/twofold/factors"
	pb "github.com/twofoldauth/twofold/factors/proto"
)

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
}

// toStatus turns a factor's error into a gRPC status carrying its kind, so
// the host can rebuild the sentinel. Untyped errors become Internal.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	detail := ""
	var fe *factors.Error
	if errors.As(err, &fe) {
		detail = fe.Detail
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			st, derr := status.New(k.code, err.Error()).WithDetails(&pb.FactorError{Kind: k.kind, Detail: detail})
			if derr != nil {
				return status.Error(k.code, err.Error())
			}
			return st.Err()
		}
	}
	return status.Error(codes.Internal, err.Error())
}

// fromStatus rebuilds a typed factor error from a plugin's status; other
// errors (transport failures, timeouts) are returned unchanged for the host
// to classify.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		fe, ok := d.(*pb.FactorError)
		if !ok {
			continue
		}
		for _, k := range kinds {
			if k.kind == fe.Kind {
				return &factors.Error{Kind: k.err, Detail: fe.Detail}
			}
		}
	}
	return err
}
