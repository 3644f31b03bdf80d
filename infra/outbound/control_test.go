package outbound

import (
	"errors"
	"testing"
)

// The dialer's Control hook judges the address the socket connects to,
// whatever name or resolver led there.
func TestControl_JudgesTheAddressDialled(t *testing.T) {
	for _, tc := range []struct {
		give string
		ok   bool
	}{
		{"93.184.216.34:443", true},
		{"[2606:4700::1111]:443", true},
		{"127.0.0.1:6379", false},
		{"169.254.169.254:80", false},
		{"10.0.0.1:443", false},
		{"[::1]:443", false},
		{"[::ffff:127.0.0.1]:443", false},
		{"[fe80::1%eth0]:443", false},
		{"not an address", false},
	} {
		err := control("tcp", tc.give, nil)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrNotAllowed)) {
			t.Errorf("control(%s) = %v, want ok=%v", tc.give, err, tc.ok)
		}
	}
}
