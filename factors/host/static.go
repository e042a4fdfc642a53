package host

import (
	"context"
	"fmt"

	"github.com/twofoldauth/twofold/factors"
)

// NewStatic returns a registry of in-process factors: no processes, so no
// restarts, and timeouts only as far as the factors honour their context.
// It is the baseline for benchmarks and a stand-in registry for tests of
// callers. The factors are used as given (configure them first). It panics
// if a factor fails Describe or two share an id: both are programming
// errors.
func NewStatic(fs ...factors.Factor) *Registry {
	r := newRegistry(Config{})
	for _, f := range fs {
		desc, err := f.Describe(context.Background(), &factors.DescribeRequest{})
		if err != nil {
			panic(fmt.Sprintf("host.NewStatic: describe: %v", err))
		}
		if _, dup := r.procs[desc.ID]; dup {
			panic(fmt.Sprintf("host.NewStatic: two factors with id %q", desc.ID))
		}
		r.procs[desc.ID] = &proc{r: r, id: desc.ID, name: desc.ID, impl: f, desc: *desc}
	}
	return r
}
