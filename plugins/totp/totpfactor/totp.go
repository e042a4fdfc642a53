// Package totpfactor implements the TOTP factor (RFC 6238) on
// github.com/pquerna/otp. It is stateless: the secret and the last accepted
// time step travel in the credential state the host keeps sealed, so a code
// is accepted once even across servers (the host writes the new state with
// compare-and-swap).
package totpfactor

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/twofoldauth/twofold/factors"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Settings are the TOTP parameters for new enrollments.
type Settings struct {
	Issuer    string
	Digits    otp.Digits
	Period    uint
	Algorithm otp.Algorithm
	Skew      uint
}

// DefaultSettings: 6 digits, 30 s, SHA1, ±1 step (what every authenticator
// app supports).
var DefaultSettings = Settings{Issuer: "Twofold", Digits: otp.DigitsSix, Period: 30, Algorithm: otp.AlgorithmSHA1, Skew: 1}

// Factor is the TOTP factor.
type Factor struct {
	now func() time.Time
	mu  sync.RWMutex
	set Settings
}

var _ factors.Factor = (*Factor)(nil)

// Option configures a Factor.
type Option func(*Factor)

// WithClock replaces time.Now (tests use RFC 6238 vectors).
func WithClock(now func() time.Time) Option { return func(f *Factor) { f.now = now } }

// New returns a TOTP factor with the default settings.
func New(opts ...Option) *Factor {
	f := &Factor{now: time.Now, set: DefaultSettings}
	for _, o := range opts {
		o(f)
	}
	return f
}

// Describe says what the factor is.
func (f *Factor) Describe(context.Context, *factors.DescribeRequest) (*factors.DescribeResponse, error) {
	return &factors.DescribeResponse{
		ID: "totp", DisplayName: "Authenticator app (TOTP)", Version: Version, ProtocolVersion: factors.ProtocolVersion,
		SettingSchema: []factors.Setting{
			{Name: "issuer", Default: "Twofold", Description: "issuer shown in authenticator apps, 1-64 characters"},
			{Name: "digits", Type: factors.SettingInt, Default: "6", Description: "6 or 8"},
			{Name: "period", Type: factors.SettingInt, Default: "30", Description: "seconds per code, 15-120"},
			{Name: "algorithm", Default: "SHA1", Description: "SHA1, SHA256 or SHA512"},
			{Name: "skew", Type: factors.SettingInt, Default: "1", Description: "steps accepted either side of now, 0-2"},
		},
	}, nil
}

// Configure applies the host's settings; unknown keys and bad values are
// refused.
func (f *Factor) Configure(_ context.Context, req *factors.ConfigureRequest) (*factors.ConfigureResponse, error) {
	s := DefaultSettings
	for k, v := range req.Settings {
		var err error
		switch k {
		case "issuer":
			if v == "" || len(v) > 64 {
				err = fmt.Errorf("issuer must be 1-64 characters")
			}
			s.Issuer = v
		case "digits":
			switch v {
			case "6":
				s.Digits = otp.DigitsSix
			case "8":
				s.Digits = otp.DigitsEight
			default:
				err = fmt.Errorf("digits must be 6 or 8")
			}
		case "period":
			n, perr := strconv.Atoi(v)
			if perr != nil || n < 15 || n > 120 {
				err = fmt.Errorf("period must be 15-120 seconds")
			}
			s.Period = uint(n)
		case "algorithm":
			alg, ok := algorithms[strings.ToUpper(v)]
			if !ok {
				err = fmt.Errorf("algorithm must be SHA1, SHA256 or SHA512")
			}
			s.Algorithm = alg
		case "skew":
			n, perr := strconv.Atoi(v)
			if perr != nil || n < 0 || n > 2 {
				err = fmt.Errorf("skew must be 0-2")
			}
			s.Skew = uint(n)
		default:
			err = fmt.Errorf("unknown setting %q", k)
		}
		if err != nil {
			return nil, factors.Errorf(factors.ErrBadRequest, err.Error())
		}
	}
	f.mu.Lock()
	f.set = s
	f.mu.Unlock()
	return &factors.ConfigureResponse{}, nil
}

var algorithms = map[string]otp.Algorithm{"SHA1": otp.AlgorithmSHA1, "SHA256": otp.AlgorithmSHA256, "SHA512": otp.AlgorithmSHA512}

// state is a credential's (or pending enrollment's) state.
type state struct {
	Secret    string `json:"secret"`
	Digits    int    `json:"digits"`
	Period    uint   `json:"period"`
	Algorithm string `json:"algorithm"`
	Skew      uint   `json:"skew"`
	// LastStep is the last accepted time step; codes at or before it are
	// replays.
	LastStep uint64 `json:"last_step"`
}

// ClientData is what BeginEnrollment gives the client.
type ClientData struct {
	Secret string `json:"secret"`
	URI    string `json:"uri"`
	QRCode string `json:"qrCode"`
}

// Response is the client's answer: the code the app shows.
type Response struct {
	Code string `json:"code"`
}

// BeginEnrollment creates a secret and its otpauth URI and QR code.
func (f *Factor) BeginEnrollment(_ context.Context, req *factors.BeginEnrollmentRequest) (*factors.BeginEnrollmentResponse, error) {
	f.mu.RLock()
	set := f.set
	f.mu.RUnlock()
	account := req.User.Name
	if account == "" {
		return nil, factors.Errorf(factors.ErrBadRequest, "the user has no name")
	}
	if req.User.Organization != "" {
		account = req.User.Organization + ":" + account
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: set.Issuer, AccountName: account, Period: set.Period,
		Digits: set.Digits, Algorithm: set.Algorithm, SecretSize: 20})
	if err != nil {
		return nil, err
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	cd, _ := json.Marshal(ClientData{Secret: key.Secret(), URI: key.URL(), QRCode: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())})
	pending, _ := json.Marshal(state{Secret: key.Secret(), Digits: int(set.Digits), Period: set.Period, Algorithm: algorithmName(set.Algorithm), Skew: set.Skew})
	return &factors.BeginEnrollmentResponse{ClientData: cd, PendingState: pending}, nil
}

func algorithmName(a otp.Algorithm) string {
	for name, v := range algorithms {
		if v == a {
			return name
		}
	}
	return "SHA1"
}

// FinishEnrollment requires a first valid code, so the user proves the app
// holds the secret; that code's step is recorded and cannot be replayed.
func (f *Factor) FinishEnrollment(_ context.Context, req *factors.FinishEnrollmentRequest) (*factors.FinishEnrollmentResponse, error) {
	st, err := decodeState(req.PendingState)
	if err != nil {
		return nil, err
	}
	next, err := f.check(st, req.Response)
	if err != nil {
		return nil, err
	}
	return &factors.FinishEnrollmentResponse{State: next, Label: "Authenticator app"}, nil
}

// BeginVerification has no challenge: the app's clock is the challenge.
func (f *Factor) BeginVerification(context.Context, *factors.BeginVerificationRequest) (*factors.BeginVerificationResponse, error) {
	return &factors.BeginVerificationResponse{ClientData: json.RawMessage(`{}`)}, nil
}

// FinishVerification accepts a code of a time step after the last accepted
// one, within the skew, and returns the state with that step recorded.
func (f *Factor) FinishVerification(_ context.Context, req *factors.FinishVerificationRequest) (*factors.FinishVerificationResponse, error) {
	st, err := decodeState(req.Credential.State)
	if err != nil {
		return nil, err
	}
	next, err := f.check(st, req.Response)
	if err != nil {
		return nil, err
	}
	return &factors.FinishVerificationResponse{State: next}, nil
}

// IdentifyCredential is not possible for TOTP: a code names no credential.
func (f *Factor) IdentifyCredential(context.Context, *factors.IdentifyCredentialRequest) (*factors.IdentifyCredentialResponse, error) {
	return nil, factors.ErrUnsupported
}

// decodeState reads a pending or credential state and refuses one this
// factor did not write (a zero period would divide by zero).
func decodeState(b []byte) (*state, error) {
	var st state
	err := json.Unmarshal(b, &st)
	_, known := algorithms[st.Algorithm]
	if err != nil || !known || st.Secret == "" || st.Period == 0 || (st.Digits != 6 && st.Digits != 8) {
		return nil, factors.Errorf(factors.ErrBadRequest, "the state is not a TOTP state")
	}
	return &st, nil
}

// check validates the response's code against st at the factor's now and
// returns the state with the matched step recorded.
func (f *Factor) check(st *state, raw json.RawMessage) ([]byte, error) {
	var resp Response
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, factors.Errorf(factors.ErrBadRequest, `the response must be {"code": "123456"}`)
	}
	code := strings.ReplaceAll(strings.TrimSpace(resp.Code), " ", "")
	if len(code) != st.Digits || strings.Trim(code, "0123456789") != "" {
		return nil, factors.Errorf(factors.ErrBadRequest, fmt.Sprintf("the code must be %d digits", st.Digits))
	}
	step, err := matchStep(st, code, f.now())
	if err != nil {
		return nil, err
	}
	st.LastStep = step
	return json.Marshal(st)
}

// matchStep returns the earliest step within the skew, after the last used
// one, whose code is code: ErrReplay if only used steps match. Like
// totp.ValidateCustom, but it says which step matched, which replay
// protection needs. Every candidate is computed and compared in constant
// time, so timing does not tell which one matched.
func matchStep(st *state, code string, now time.Time) (uint64, error) {
	current := now.Unix() / int64(st.Period)
	opts := hotp.ValidateOpts{Digits: otp.Digits(st.Digits), Algorithm: algorithms[st.Algorithm]}
	var matched uint64
	found, used := false, false
	for counter := current - int64(st.Skew); counter <= current+int64(st.Skew); counter++ {
		if counter < 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(st.Secret, uint64(counter), opts)
		if err != nil {
			return 0, factors.Errorf(factors.ErrBadRequest, "the state's secret is not base32")
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		switch {
		case uint64(counter) <= st.LastStep:
			used = true
		case !found:
			matched, found = uint64(counter), true
		}
	}
	switch {
	case found:
		return matched, nil
	case used:
		return 0, factors.Errorf(factors.ErrReplay, "this code was already used")
	}
	return 0, factors.Errorf(factors.ErrInvalidResponse, "wrong code")
}

// Code returns the code for secret at t with the default parameters (for
// tests and examples).
func Code(secret string, t time.Time) string {
	c, _ := totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	return c
}
