package server

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

func TestScaleSettings(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	read := func(vars map[string]string) (Config, error) {
		vars["TWOFOLD_SEAL_KEY"] = key
		return ConfigFromEnv(func(k string) string { return vars[k] })
	}
	c, err := read(map[string]string{})
	if err != nil || c.RequestTimeout != DefaultRequestTimeout || c.MFA.AuditRetention != 0 {
		t.Fatalf("defaults: %v, %v, %v", c.RequestTimeout, c.MFA.AuditRetention, err)
	}
	for v, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "2160h": 2160 * time.Hour, "forever": 0, "0": 0, "1d": 24 * time.Hour} {
		c, err := read(map[string]string{"TWOFOLD_AUDIT_RETENTION": v})
		if err != nil || c.MFA.AuditRetention != want {
			t.Errorf("TWOFOLD_AUDIT_RETENTION=%s: %v, %v; want %v", v, c.MFA.AuditRetention, err, want)
		}
	}
	if c, err := read(map[string]string{"TWOFOLD_REQUEST_TIMEOUT": "250ms"}); err != nil || c.RequestTimeout != 250*time.Millisecond {
		t.Errorf("TWOFOLD_REQUEST_TIMEOUT=250ms: %v, %v", c.RequestTimeout, err)
	}
	for name, v := range map[string]string{
		"TWOFOLD_AUDIT_RETENTION": "ninety days", "TWOFOLD_REQUEST_TIMEOUT": "-1s",
	} {
		if _, err := read(map[string]string{name: v}); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v, want an error naming it", name, v, err)
		}
	}
	for _, v := range []string{"-3d", "0d", "-1h", "d"} {
		if _, err := read(map[string]string{"TWOFOLD_AUDIT_RETENTION": v}); err == nil {
			t.Errorf("TWOFOLD_AUDIT_RETENTION=%s accepted", v)
		}
	}
}
