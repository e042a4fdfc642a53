package graph

import (
	"testing"

	"github.com/vektah/gqlparser/v2"

	"github.com/twofoldauth/twofold/graph/generated"
)

// TestSecretFieldsExist keeps the list of secret-checking fields in step
// with the schema: a renamed mutation would otherwise escape the limit.
func TestSecretFieldsExist(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	for name := range secretFields {
		if schema.Mutation.Fields.ForName(name) == nil {
			t.Errorf("secret-checking field %q is not a mutation", name)
		}
	}
}

func TestCountSecretFields(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	cases := map[string]struct {
		query string
		want  int
	}{
		"one login":      {`mutation { login(input: {organization: "o", username: "u", password: "p"}) { status } }`, 1},
		"aliases":        {`mutation { a: login(input: {organization: "o", username: "u", password: "p"}) { status } b: login(input: {organization: "o", username: "u", password: "q"}) { status } }`, 2},
		"other fields":   {`mutation { logout { ok } createCompany(input: {name: "x"}) { company { id } } }`, 0},
		"fragments":      {`mutation { ...A ... on Mutation { c: changePassword(input: {currentPassword: "a", newPassword: "b"}) { user { id } } } } fragment A on Mutation { v: verifyFactor(input: {ticket: "t", response: {}}) { status } }`, 2},
		"nested are not": {`{ viewer { username } }`, 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			doc, errs := gqlparser.LoadQuery(schema, tc.query)
			if errs != nil {
				t.Fatal(errs)
			}
			if got := countSecretFields(doc.Operations[0].SelectionSet, doc.Fragments); got != tc.want {
				t.Fatalf("%d secret fields, want %d", got, tc.want)
			}
		})
	}
}
