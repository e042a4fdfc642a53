package webauthnfactor

// ShippedRoots exposes the embedded vendor roots to the tests.
var ShippedRoots = shippedRoots
