package totpfactor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/factors"
)

// RFC 6238 appendix B, SHA1: secret "12345678901234567890".
var rfcVectors = map[int64]string{
	59:          "94287082",
	1111111109:  "07081804",
	1111111111:  "14050471",
	1234567890:  "89005924",
	2000000000:  "69279037",
	20000000000: "65353130",
}

const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // base32("12345678901234567890")

func rfcState(last uint64) []byte {
	b, _ := json.Marshal(state{Secret: rfcSecret, Digits: 8, Period: 30, Algorithm: "SHA1", Skew: 1, LastStep: last})
	return b
}

func verify(f *Factor, st []byte, code string) (*factors.FinishVerificationResponse, error) {
	return f.FinishVerification(context.Background(), &factors.FinishVerificationRequest{
		Credential: factors.Credential{State: st}, Response: json.RawMessage(fmt.Sprintf(`{"code": %q}`, code)),
	})
}

func TestRFC6238Vectors(t *testing.T) {
	for unix, code := range rfcVectors {
		t.Run(fmt.Sprint(unix), func(t *testing.T) {
			f := New(WithClock(func() time.Time { return time.Unix(unix, 0) }))
			resp, err := verify(f, rfcState(0), code)
			if err != nil {
				t.Fatalf("vector rejected: %v", err)
			}
			var st state
			_ = json.Unmarshal(resp.State, &st)
			if st.LastStep != uint64(unix/30) {
				t.Fatalf("last step %d, want %d", st.LastStep, unix/30)
			}
			if _, err := verify(f, resp.State, code); !errors.Is(err, factors.ErrReplay) {
				t.Fatalf("replayed code: %v, want ErrReplay", err)
			}
		})
	}
}

func TestVerificationFailures(t *testing.T) {
	now := time.Unix(1111111111, 0)
	f := New(WithClock(func() time.Time { return now }))
	cases := map[string]struct {
		state []byte
		body  string
		want  error
	}{
		"wrong code":        {rfcState(0), `{"code": "12345678"}`, factors.ErrInvalidResponse},
		"too short":         {rfcState(0), `{"code": "123"}`, factors.ErrBadRequest},
		"letters":           {rfcState(0), `{"code": "abcdefgh"}`, factors.ErrBadRequest},
		"not json":          {rfcState(0), `code=1`, factors.ErrBadRequest},
		"older step":        {rfcState(uint64(now.Unix()/30) + 1), `{"code": "14050471"}`, factors.ErrReplay},
		"unreadable state":  {[]byte("x"), `{"code": "14050471"}`, factors.ErrBadRequest},
		"previous step ok?": {rfcState(0), `{"code": "07081804"}`, nil}, // T=1111111109 is the previous step
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := f.FinishVerification(context.Background(), &factors.FinishVerificationRequest{
				Credential: factors.Credential{State: tc.state}, Response: json.RawMessage(tc.body)})
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestEnrollmentNeedsFirstCodeAndConfigApplies(t *testing.T) {
	now := time.Now()
	f := New(WithClock(func() time.Time { return now }))
	ctx := context.Background()
	if _, err := f.Configure(ctx, &factors.ConfigureRequest{Settings: map[string]string{"issuer": "Acme MFA", "digits": "6"}}); err != nil {
		t.Fatal(err)
	}
	for name, settings := range map[string]map[string]string{
		"digits 7": {"digits": "7"}, "period 5": {"period": "5"}, "alg md5": {"algorithm": "MD5"}, "unknown": {"colour": "red"},
	} {
		if _, err := New().Configure(ctx, &factors.ConfigureRequest{Settings: settings}); !errors.Is(err, factors.ErrBadRequest) {
			t.Errorf("%s accepted: %v", name, err)
		}
	}
	begin, err := f.BeginEnrollment(ctx, &factors.BeginEnrollmentRequest{User: factors.User{ID: "u1", Name: "alice", Organization: "demo"}})
	if err != nil {
		t.Fatal(err)
	}
	var cd ClientData
	if err := json.Unmarshal(begin.ClientData, &cd); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cd.URI)
	if err != nil || u.Scheme != "otpauth" || u.Query().Get("issuer") != "Acme MFA" || !strings.Contains(u.Path, "demo:alice") {
		t.Fatalf("uri %q", cd.URI)
	}
	if !strings.HasPrefix(cd.QRCode, "data:image/png;base64,") || len(cd.Secret) != 32 {
		t.Fatalf("client data %+v", cd)
	}
	finish := func(code string) (*factors.FinishEnrollmentResponse, error) {
		return f.FinishEnrollment(ctx, &factors.FinishEnrollmentRequest{PendingState: begin.PendingState, Response: json.RawMessage(`{"code":"` + code + `"}`)})
	}
	if _, err := finish("000000"); !errors.Is(err, factors.ErrInvalidResponse) && Code(cd.Secret, now) != "000000" {
		t.Fatalf("wrong first code: %v", err)
	}
	done, err := finish(Code(cd.Secret, now))
	if err != nil {
		t.Fatal(err)
	}
	// The enrolment code cannot log in afterwards.
	if _, err := verify(f, done.State, Code(cd.Secret, now)); !errors.Is(err, factors.ErrReplay) {
		t.Fatalf("enrolment code replayed at login: %v", err)
	}
	if _, err := verify(f, done.State, Code(cd.Secret, now.Add(30*time.Second))); err != nil {
		t.Fatalf("next code: %v", err)
	}
}
