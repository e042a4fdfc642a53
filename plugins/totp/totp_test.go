package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/twofoldauth/twofold/factors/factortest"
	"github.com/twofoldauth/twofold/plugins/totp/totpfactor"
)

// solver is an authenticator app: it answers with the code of the next time
// step each time (the plugin refuses a step it already accepted).
type solver struct{ step int }

func (s *solver) answer(enrollClientData json.RawMessage) (json.RawMessage, error) {
	var cd totpfactor.ClientData
	if err := json.Unmarshal(enrollClientData, &cd); err != nil {
		return nil, err
	}
	code := totpfactor.Code(cd.Secret, time.Now().Add(time.Duration(s.step-1)*30*time.Second))
	s.step++
	return json.Marshal(totpfactor.Response{Code: code})
}

func (s *solver) Enroll(cd json.RawMessage) (json.RawMessage, error) { return s.answer(cd) }
func (s *solver) Verify(enroll, _ json.RawMessage) (json.RawMessage, error) {
	return s.answer(enroll)
}

func TestConformance(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "totp")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	factortest.Run(t, bin, factortest.WithSolver(&solver{}), factortest.WithSettings(map[string]string{"skew": "2", "issuer": "Conformance"}))
}
