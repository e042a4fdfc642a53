package graph

import (
	"context"
	"net/http"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/twofoldauth/twofold/mfa"
)

// loaders batch the look-ups behind User fields, so a page of users costs a
// handful of queries rather than a few per user. They live for one request.
type loaders struct {
	organizations *dataloadgen.Loader[string, *mfa.Organization]
	companies     *dataloadgen.Loader[string, *mfa.Company]
	enrollments   *dataloadgen.Loader[string, []mfa.Enrollment]
}

type loadersKey struct{}

func newLoaders(svc *mfa.Service) *loaders {
	wait := dataloadgen.WithWait(time.Millisecond)
	return &loaders{
		organizations: dataloadgen.NewMappedLoader(svc.OrganizationsByID, wait),
		companies:     dataloadgen.NewMappedLoader(svc.CompaniesByID, wait),
		enrollments:   dataloadgen.NewMappedLoader(svc.ActiveEnrollmentsByUser, wait),
	}
}

// withLoaders gives each request its own loaders.
func withLoaders(svc *mfa.Service, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := withGraceMemo(context.WithValue(r.Context(), loadersKey{}, newLoaders(svc)))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func loadersFrom(ctx context.Context, svc *mfa.Service) *loaders {
	if l, ok := ctx.Value(loadersKey{}).(*loaders); ok {
		return l
	}
	return newLoaders(svc)
}
