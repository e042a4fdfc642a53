package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/twofoldauth/twofold/factors/factortest"
)

// solver reads the code from the last message the factor delivered.
type solver struct{ mailbox *factortest.Mailbox }

var codeIn = regexp.MustCompile(`code is (\d{6,8})\.`)

func (s solver) code() (json.RawMessage, error) {
	m, ok := s.mailbox.Last()
	if !ok {
		return nil, errors.New("no message delivered")
	}
	match := codeIn.FindStringSubmatch(m.Text)
	if match == nil || m.UserID == "" || m.FactorType != "emailotp" {
		return nil, fmt.Errorf("no code in %+v", m)
	}
	return json.Marshal(map[string]string{"code": match[1]})
}

func (s solver) Enroll(json.RawMessage) (json.RawMessage, error)      { return s.code() }
func (s solver) Verify(_, _ json.RawMessage) (json.RawMessage, error) { return s.code() }

func TestConformance(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "emailotp")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	mb := &factortest.Mailbox{}
	factortest.Run(t, bin, factortest.WithSolver(solver{mb}), factortest.WithMailbox(mb),
		factortest.WithSettings(map[string]string{"digits": "8", "ttl": "2m", "cooldown": "10s"}))
	// Enrolment and two verifications each mailed one 8-digit code.
	msgs := mb.All()
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3: %+v", len(msgs), msgs)
	}
	for _, m := range msgs {
		if c := codeIn.FindStringSubmatch(m.Text); c == nil || len(c[1]) != 8 || m.Subject != "Your sign-in code" {
			t.Errorf("message %+v", m)
		}
	}
}

// TestTheEightyLineBar keeps the email factor a complete factor in at most
// 80 lines of Go on the SDK (the README quotes `wc -l plugins/emailotp/main.go`).
func TestTheEightyLineBar(t *testing.T) {
	f, err := os.Open("main.go")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		n++
	}
	if n > 80 {
		t.Errorf("main.go has %d lines: the email factor must fit in 80 (move reusable parts into factors/sdk)", n)
	}
}
