package hub

import (
	"sync"
	"time"
)

// How an agency is connected (Presence.Via).
const (
	// ViaStream: the agency holds an open subscription stream.
	ViaStream = "stream"
	// ViaPolling: the agency has no stream but polled (the VXP HTTP API)
	// within Config.PollWindow.
	ViaPolling = "polling"
)

// DefaultPollWindow is Config.PollWindow's default.
const DefaultPollWindow = 2 * time.Minute

// Presence is the live connection state of an agency. An agency is online
// while it holds at least one open subscription stream or polled the hub
// within Config.PollWindow.
type Presence struct {
	Online bool
	// Via says how it is connected: ViaStream (which wins when it also
	// polls), ViaPolling, or "" when offline.
	Via string
	// ConnectedSince is when the current online period began, by stream or
	// by polling; zero when offline.
	ConnectedSince time.Time
	LastSeen       time.Time // zero if never seen since the hub started
	LastPolled     time.Time // the last poll since the hub started; zero if none
}

// presence tracks connections in memory. It is not stored: after a restart
// every agency is offline until it reconnects or polls, which is the truth.
//
// An agency that polls goes offline when the window passes without a poll:
// nothing arrives to say so, so a sweeper (started by the first poll, ended
// when no agency is online by polling, or by close) notices and tells
// onChange and onOffline like a stream's end does. Reads do not wait for
// it: they compare the last poll with the clock.
type presence struct {
	now    func() time.Time
	window time.Duration // Config.PollWindow
	every  time.Duration // how often the sweeper looks (pollSweepEvery)
	mu     sync.Mutex
	m      map[string]*conn
	// onChange is called (outside the lock) when an agency goes online or offline.
	onChange func()
	// onOffline is called (outside the lock) when an agency goes offline:
	// its last stream ended, or its poll window passed.
	onOffline func(code string, lastSeen time.Time)

	sweeping bool // a sweeper runs
	closed   bool // close was called: no sweeper starts again
	stop     chan struct{}
	sweepers sync.WaitGroup
}

type conn struct {
	streams    int
	since      time.Time
	lastSeen   time.Time
	lastPolled time.Time
	// polling: online by polling as far as the sweeper knows; it clears
	// it (and tells) once the window has passed.
	polling bool
}

// pollSweepEvery is how often the sweeper looks for expired polls: a
// quarter of the window, at most 5 s (the dashboard's heartbeat), so an
// agency shows offline within seconds of its window passing.
func pollSweepEvery(window time.Duration) time.Duration {
	return max(min(window/4, 5*time.Second), 10*time.Millisecond)
}

func newPresence(now func() time.Time, window time.Duration) *presence {
	return &presence{now: now, window: window, every: pollSweepEvery(window), m: map[string]*conn{}, stop: make(chan struct{})}
}

func (p *presence) conn(code string) *conn {
	c := p.m[code]
	if c == nil {
		c = &conn{}
		p.m[code] = c
	}
	return c
}

// polledWithin reports whether c polled within the window before now.
func (p *presence) polledWithin(c *conn, now time.Time) bool {
	return !c.lastPolled.IsZero() && now.Sub(c.lastPolled) < p.window
}

func (p *presence) isOnline(c *conn, now time.Time) bool {
	return c.streams > 0 || p.polledWithin(c, now)
}

// connect records a new stream and returns a function to call when it ends.
func (p *presence) connect(code string) (done func()) {
	p.mu.Lock()
	defer p.changed()
	defer p.mu.Unlock()
	now := p.now().UTC()
	c := p.conn(code)
	if !p.isOnline(c, now) {
		c.since = now
	}
	c.streams++
	c.lastSeen = now
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			now := p.now().UTC()
			c.streams--
			c.lastSeen = now
			// Still polling: it stays online until its window passes,
			// and the sweeper tells then.
			offline := !p.isOnline(c, now)
			if offline {
				c.since = time.Time{}
			}
			seen := c.lastSeen
			p.mu.Unlock()
			p.changed()
			if offline && p.onOffline != nil {
				p.onOffline(code, seen)
			}
		})
	}
}

// polled records a poll: the agency is online for the window from now.
func (p *presence) polled(code string) {
	p.mu.Lock()
	now := p.now().UTC()
	c := p.conn(code)
	was := p.isOnline(c, now)
	if !was {
		c.since = now
	}
	c.lastPolled, c.lastSeen, c.polling = now, now, true
	start := !p.sweeping && !p.closed
	if start {
		p.sweeping = true
		p.sweepers.Add(1)
	}
	p.mu.Unlock()
	if start {
		go p.sweepLoop()
	}
	if !was {
		p.changed()
	}
}

func (p *presence) sweepLoop() {
	defer p.sweepers.Done()
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		if !p.sweep() {
			return
		}
	}
}

// sweep takes offline the agencies whose poll window passed, and says
// whether any agency is still online by polling (when none is, the
// sweeper ends: the next poll starts another).
func (p *presence) sweep() (more bool) {
	type gone struct {
		code string
		seen time.Time
	}
	var offline []gone
	p.mu.Lock()
	now := p.now().UTC()
	for code, c := range p.m {
		if !c.polling {
			continue
		}
		if p.polledWithin(c, now) {
			more = true
			continue
		}
		c.polling = false
		if c.streams == 0 {
			c.since = time.Time{}
			offline = append(offline, gone{code, c.lastSeen})
		}
	}
	if !more {
		p.sweeping = false
	}
	p.mu.Unlock()
	if len(offline) > 0 {
		p.changed()
	}
	if p.onOffline != nil {
		for _, g := range offline {
			p.onOffline(g.code, g.seen)
		}
	}
	return more
}

// close ends the sweeper and waits for it; no poll starts another.
func (p *presence) close() {
	p.mu.Lock()
	first := !p.closed
	p.closed = true
	p.mu.Unlock()
	if first {
		close(p.stop)
	}
	p.sweepers.Wait()
	p.mu.Lock()
	p.sweeping = false
	p.mu.Unlock()
}

func (p *presence) changed() {
	if p.onChange != nil {
		p.onChange()
	}
}

// restore sets last-seen times read from the store at start.
func (p *presence) restore(seen map[string]time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for code, t := range seen {
		if p.m[code] == nil {
			p.m[code] = &conn{lastSeen: t}
		}
	}
}

// seen notes activity from an agency (any authenticated call).
func (p *presence) seen(code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conn(code).lastSeen = p.now().UTC()
}

func (p *presence) online(code string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.m[code]
	return c != nil && p.isOnline(c, p.now())
}

func (p *presence) get(code string) Presence {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.m[code]
	if c == nil {
		return Presence{}
	}
	out := Presence{ConnectedSince: c.since, LastSeen: c.lastSeen, LastPolled: c.lastPolled}
	switch {
	case c.streams > 0:
		out.Online, out.Via = true, ViaStream
	case p.polledWithin(c, p.now()):
		out.Online, out.Via = true, ViaPolling
	default:
		out.ConnectedSince = time.Time{} // the sweeper has not come by yet
	}
	return out
}

// Polled records that agency code polled the hub (the VXP HTTP API): it
// counts as online for Config.PollWindow after each poll, and a poll is
// activity ("last seen"). The caller has authenticated the request and
// calls it for each agency the request acts for.
func (h *Hub) Polled(code string) {
	h.mu.RLock()
	_, ok := h.index[code]
	h.mu.RUnlock()
	if !ok { // nothing to show for an agency the registry does not know
		return
	}
	h.presence.polled(code)
}
