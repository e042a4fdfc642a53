package mfa

// DummyHash exposes the hash unknown-user logins are checked against.
func (s *Service) DummyHash() string { return s.dummyHash }
