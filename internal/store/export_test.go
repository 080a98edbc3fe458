package store

// Crash stops s as a killed process would leave it: writes answered are in
// the log, whatever the applier had not copied stays out of the file, and
// nothing is cleaned up.
func (s *Bolt) Crash() {
	s.closeOnce.Do(func() {
		s.stop(true)
		if s.commit.log.f != nil {
			s.commit.log.f.Close()
		}
		s.db.Close()
	})
}
