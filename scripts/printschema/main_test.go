package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/twofoldauth/twofold/graph/generated"
)

// TestSchemaFileIsCurrent fails when graph/schema.graphql no longer matches
// the schema the server runs: run `make generate` and commit the file.
func TestSchemaFileIsCurrent(t *testing.T) {
	committed, err := os.ReadFile("../../graph/schema.graphql")
	if err != nil {
		t.Fatalf("graph/schema.graphql: %v (run make generate)", err)
	}
	if fresh := schemaSDL(); !bytes.Equal(committed, fresh) {
		t.Fatal("graph/schema.graphql is stale: run `make generate` and commit it")
	}
}

// TestSchemaFileIsTheWholeSchema parses the printed SDL on its own, as a
// frontend code generator would, and finds every type and field of the
// executable schema in it.
func TestSchemaFileIsTheWholeSchema(t *testing.T) {
	printed, gqlErr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: string(schemaSDL())})
	if gqlErr != nil {
		t.Fatalf("the printed schema does not parse: %v", gqlErr)
	}
	want := generated.NewExecutableSchema(generated.Config{}).Schema()
	for name, def := range want.Types {
		got := printed.Types[name]
		if got == nil {
			t.Errorf("type %s missing", name)
			continue
		}
		if got.Kind != def.Kind || len(got.Fields) != len(def.Fields) || len(got.EnumValues) != len(def.EnumValues) {
			t.Errorf("type %s: %s with %d fields and %d values, want %s with %d and %d",
				name, got.Kind, len(got.Fields), len(got.EnumValues), def.Kind, len(def.Fields), len(def.EnumValues))
		}
		for _, f := range def.Fields {
			if g := got.Fields.ForName(f.Name); g == nil || g.Type.String() != f.Type.String() || len(g.Arguments) != len(f.Arguments) {
				t.Errorf("field %s.%s differs", name, f.Name)
			}
		}
	}
	if len(printed.Types) != len(want.Types) {
		t.Errorf("%d types, want %d", len(printed.Types), len(want.Types))
	}
	if printed.Directives["auth"] == nil {
		t.Error("the @auth directive is missing")
	}
}
