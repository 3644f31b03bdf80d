package email

import (
	"net"
	"sync"
	"time"
)

// Connection limits of the listener: a sender that opens connections
// without end (or holds them open) must not starve the others.
const (
	// DefaultMaxConnections is SMTP_MAX_CONNECTIONS' default.
	DefaultMaxConnections = 200
	// DefaultMaxConnectionsPerIP is SMTP_MAX_CONNECTIONS_PER_IP's default.
	DefaultMaxConnectionsPerIP = 20
)

// replyTooManyConns is the greeting of a connection over a limit: 421 is
// SMTP's "try again later" for a whole connection, and a real server
// retries later; nothing is read from it.
const replyTooManyConns = "421 4.7.0 Too many connections, try again later\r\n"

// limitListener refuses, with replyTooManyConns, a connection past max
// open ones, or past perIP from the same address. Refusing (rather than
// not accepting, as netutil.LimitListener does) keeps the listen queue
// moving for everyone else.
type limitListener struct {
	net.Listener
	max, perIP int

	mu    sync.Mutex
	open  int
	byIP  map[string]int
	onOff func(remote string) // told of each refused connection
}

func newLimitListener(ln net.Listener, max, perIP int, onOff func(string)) net.Listener {
	if max <= 0 && perIP <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, max: max, perIP: perIP, byIP: map[string]int{}, onOff: onOff}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		if l.take(ip) {
			return &limitedConn{Conn: c, release: func() { l.release(ip) }}, nil
		}
		if l.onOff != nil {
			l.onOff(c.RemoteAddr().String())
		}
		go refuse(c)
	}
}

// refuse answers 421 and closes, without waiting on a slow reader.
func refuse(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write([]byte(replyTooManyConns))
	_ = c.Close()
}

func (l *limitListener) take(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if (l.max > 0 && l.open >= l.max) || (l.perIP > 0 && l.byIP[ip] >= l.perIP) {
		return false
	}
	l.open++
	l.byIP[ip]++
	return true
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

func remoteIP(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// limitedConn gives its slot back once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
