package hub

import (
	"sync"
	"time"
)

// Presence is the live connection state of an agency. An agency is online
// while it holds at least one open subscription stream.
type Presence struct {
	Online         bool
	ConnectedSince time.Time // zero when offline
	LastSeen       time.Time // zero if never seen since the hub started
}

// presence tracks connections in memory. It is not stored: after a restart
// every agency is offline until it reconnects, which is the truth.
type presence struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*conn
	// onChange is called (outside the lock) when an agency goes online or offline.
	onChange func()
	// onOffline is called (outside the lock) when an agency's last stream ends.
	onOffline func(code string, lastSeen time.Time)
}

type conn struct {
	streams  int
	since    time.Time
	lastSeen time.Time
}

func newPresence(now func() time.Time) *presence {
	return &presence{now: now, m: map[string]*conn{}}
}

// connect records a new stream and returns a function to call when it ends.
func (p *presence) connect(code string) (done func()) {
	p.mu.Lock()
	defer p.changed()
	defer p.mu.Unlock()
	now := p.now().UTC()
	c := p.m[code]
	if c == nil {
		c = &conn{}
		p.m[code] = c
	}
	if c.streams == 0 {
		c.since = now
	}
	c.streams++
	c.lastSeen = now
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			c.streams--
			c.lastSeen = p.now().UTC()
			offline := c.streams == 0
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
	c := p.m[code]
	if c == nil {
		c = &conn{}
		p.m[code] = c
	}
	c.lastSeen = p.now().UTC()
}

func (p *presence) online(code string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.m[code]
	return c != nil && c.streams > 0
}

func (p *presence) get(code string) Presence {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.m[code]
	if c == nil {
		return Presence{}
	}
	return Presence{Online: c.streams > 0, ConnectedSince: c.since, LastSeen: c.lastSeen}
}
