package otp

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/factors"
)

func TestCodes(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, digits := range []int{6, 7, 8} {
		code, c := New(digits, now, 5*time.Minute)
		if len(code) != digits || strings.Trim(code, "0123456789") != "" {
			t.Errorf("code %q for %d digits", code, digits)
		}
		kept, _ := json.Marshal(c)
		if strings.Contains(string(kept), code) {
			t.Errorf("the kept state holds the code: %s", kept)
		}
		if _, d := New(digits, now, time.Minute); string(d.Salt) == string(c.Salt) || string(d.ID) == string(c.ID) {
			t.Error("salt or id repeated")
		}
	}
	code, c := New(6, now, 5*time.Minute)
	kept, _ := json.Marshal(c)
	answer := func(s string) []byte { b, _ := json.Marshal(map[string]string{"code": s}); return b }
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	cases := map[string]struct {
		kept, response, cred []byte
		at                   time.Time
		want                 error
	}{
		"right":               {kept, answer(code), nil, now.Add(4 * time.Minute), nil},
		"right, spaced":       {kept, answer(code[:3] + " " + code[3:]), nil, now, nil},
		"wrong":               {kept, answer(wrong), nil, now, factors.ErrInvalidResponse},
		"expired":             {kept, answer(code), nil, now.Add(5 * time.Minute), factors.ErrInvalidResponse},
		"used already":        {kept, answer(code), []byte(`{"last":"` + b64(c.ID) + `"}`), now, factors.ErrReplay},
		"no code sent":        {nil, answer(code), nil, now, factors.ErrBadRequest},
		"malformed":           {kept, []byte(`{"code": 1}`), nil, now, factors.ErrBadRequest},
		"foreign credential":  {kept, answer(code), []byte("junk"), now, factors.ErrBadRequest},
		"other code was used": {kept, answer(code), []byte(`{"last":"AAAA"}`), now, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			st, err := Verify(tc.kept, tc.response, tc.cred, tc.at)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err == nil && !strings.Contains(string(st), b64(c.ID)) {
				t.Errorf("new state %s does not name the code", st)
			}
		})
	}
	if w := c.Wait(now.Add(10*time.Second), 30*time.Second); w != 20*time.Second {
		t.Errorf("wait %s", w)
	}
	if w := c.Wait(now.Add(31*time.Second), 30*time.Second); w != 0 {
		t.Errorf("wait %s after the cool-down", w)
	}
}

func b64(b []byte) string { s, _ := json.Marshal(b); return strings.Trim(string(s), `"`) }
