package transfer

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ListenAddr is a server's Endpoint (host:port) taken apart, to tell whether two servers would
// listen on the same address.
type ListenAddr struct {
	Host string // normalized: an IP in canonical form or a lowercase host name; "" with Any
	Any  bool   // all interfaces: empty host, 0.0.0.0 or ::
	Port int
}

// ParseEndpoint checks a listen address host:port and takes it apart; errors name field.
func ParseEndpoint(field, ep string) (ListenAddr, error) {
	if _, err := netip.ParseAddr(ep); err == nil || !strings.Contains(ep, ":") {
		return ListenAddr{}, Invalid(field, "%q has no port; write host:port, e.g. 127.0.0.1:2222, [::1]:2222 or :2222", ep)
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		reason := err.Error()
		if ae, ok := errors.AsType[*net.AddrError](err); ok {
			reason = ae.Err
		}
		return ListenAddr{}, Invalid(field, "%q is not host:port (%s); e.g. 127.0.0.1:2222, [::1]:2222 or :2222", ep, reason)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return ListenAddr{}, Invalid(field, "%q: the port must be a number from 1 to 65535, not %q", ep, port)
	}
	a := ListenAddr{Port: n}
	switch ip, err := netip.ParseAddr(host); {
	case host == "":
		a.Any = true
	case err == nil:
		ip = ip.Unmap()
		a.Any = ip.IsUnspecified()
		if !a.Any {
			a.Host = ip.String()
		}
	case validHostname(host):
		a.Host = strings.ToLower(strings.TrimSuffix(host, "."))
	default:
		return ListenAddr{}, Invalid(field, "%q: the host %q is neither an IP address nor a host name", ep, host)
	}
	return a, nil
}

// Overlaps reports whether servers on a and b could not both listen: the same port on the same
// address, or on all interfaces.
func (a ListenAddr) Overlaps(b ListenAddr) bool {
	return a.Port == b.Port && (a.Any || b.Any || a.Host == b.Host)
}

func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}
