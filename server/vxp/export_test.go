package vxp

import "maps"

// AddMethodForTest adds a method to s, for tests of what every method
// gets (a panic's envelope).
func AddMethodForTest(s *Server, name string, fn func()) {
	s.methods = maps.Clone(s.methods)
	s.methods[name] = func(*Server, *request) error { fn(); return nil }
}
