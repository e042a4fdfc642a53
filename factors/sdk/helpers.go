package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twofoldauth/twofold/factors"
)

// Settings are a factor's settings as Configure received them, with the
// declared defaults filled in (ReadSettings).
type Settings map[string]string

// ReadSettings checks Configure's values against the factor's declared
// settings (an unknown name or a value of the wrong type is
// factors.ErrBadRequest) and fills in the defaults.
func ReadSettings(req *factors.ConfigureRequest, schema []factors.Setting) (Settings, error) {
	out := Settings{}
	for _, s := range schema {
		if s.Default != "" {
			out[s.Name] = s.Default
		}
	}
	for name, v := range req.Settings {
		i := -1
		for j := range schema {
			if schema[j].Name == name {
				i = j
			}
		}
		if i < 0 {
			return nil, factors.Errorf(factors.ErrBadRequest, "unknown setting "+name)
		}
		if err := schema[i].Check(v); err != nil {
			return nil, factors.Errorf(factors.ErrBadRequest, fmt.Sprintf("setting %s: %v", name, err))
		}
		out[name] = v
	}
	return out, nil
}

// String is the setting's value.
func (s Settings) String(name string) string { return s[name] }

// Int is an int setting's value (0 when unset).
func (s Settings) Int(name string) int { n, _ := strconv.Atoi(s[name]); return n }

// Duration is a duration setting's value (0 when unset).
func (s Settings) Duration(name string) time.Duration { d, _ := time.ParseDuration(s[name]); return d }

// Bool is a bool setting's value.
func (s Settings) Bool(name string) bool { b, _ := strconv.ParseBool(s[name]); return b }

// List is a list setting's items, trimmed, without empty ones.
func (s Settings) List(name string) []string {
	var out []string
	for _, v := range strings.Split(s[name], ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Decode reads a client's JSON response or the factor's own state into v;
// anything unreadable is factors.ErrBadRequest.
func Decode(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return factors.Errorf(factors.ErrBadRequest, "unreadable JSON")
	}
	return nil
}

// NotPasswordless gives a factor that cannot identify a credential from a
// response alone (everything but passkeys) its IdentifyCredential.
type NotPasswordless struct{}

// IdentifyCredential answers factors.ErrUnsupported.
func (NotPasswordless) IdentifyCredential(context.Context, *factors.IdentifyCredentialRequest) (*factors.IdentifyCredentialResponse, error) {
	return nil, factors.ErrUnsupported
}

// TooSoon is factors.ErrRateLimited saying how long to wait, which users
// see (RATE_LIMITED: "wait 25 seconds").
func TooSoon(wait time.Duration) error {
	return factors.Errorf(factors.ErrRateLimited, fmt.Sprintf("wait %d seconds", int((wait+time.Second-1)/time.Second)))
}

// hostError is a host refusal a factor may return as it is: it matches
// the sdk sentinel (ErrTooMany, ErrInvalid) and is a *factors.Error of the
// matching kind (ErrRateLimited, ErrBadRequest), so users see its reason.
type hostError struct {
	fe   factors.Error
	host error
}

func (e *hostError) Error() string   { return e.host.Error() }
func (e *hostError) Unwrap() []error { return []error{&e.fe, e.host} }

// typedHostError gives ErrTooMany and ErrInvalid a factor kind.
func typedHostError(err error) error {
	kind, sentinel := factors.ErrRateLimited, ErrTooMany
	switch {
	case errors.Is(err, ErrTooMany):
	case errors.Is(err, ErrInvalid):
		kind, sentinel = factors.ErrBadRequest, ErrInvalid
	default:
		return err
	}
	detail := strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
	return &hostError{fe: factors.Error{Kind: kind, Detail: detail}, host: err}
}
