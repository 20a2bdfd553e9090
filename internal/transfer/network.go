package transfer

import (
	"net/netip"
	"strings"
)

// ParseNetwork reads a CIDR network (its host bits cleared) or a single IP address (a network of
// one). An IPv4-mapped IPv6 address is taken as the IPv4 address it maps.
func ParseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
