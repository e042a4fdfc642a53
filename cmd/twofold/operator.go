package main

import (
	"fmt"
	"io"

	"github.com/twofoldauth/twofold/mfa"
)

// operatorCommand: `twofold operator token NAME` prints a new operator
// token (shown once: keep it in the operator's secret store) and the entry
// to add to TWOFOLD_OPERATOR_TOKENS (comma-separated with the others).
func operatorCommand(args []string, out io.Writer) error {
	if len(args) != 2 || args[0] != "token" {
		return errUsage
	}
	token, entry, err := mfa.NewOperatorToken(args[1])
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "token (shown once; send it as Authorization: Bearer TOKEN):\n%s\n\nadd to TWOFOLD_OPERATOR_TOKENS (comma-separated with the others):\n%s\n", token, entry)
	return nil
}
