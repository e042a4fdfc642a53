// Package server wires Twofold together (configuration, store, factor
// plugins, the mfa service, GraphQL) and serves HTTP: /graphql,
// /playground, /healthz and /readyz, behind session, CSRF and CORS
// middleware, with graceful shutdown.
package server
