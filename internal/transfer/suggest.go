package transfer

import "strings"

// Suggest returns the candidate nearest to name, ignoring case, when it is close enough to be a
// typo, or when name (4 characters or more) is a part of it, such as "FIPS-2024-01" of
// "TransferSecurityPolicy-FIPS-2024-01"; otherwise "". Error messages use it for "did you mean".
func Suggest(name string, candidates []string) string {
	query := strings.ToLower(strings.TrimSpace(name))
	if query == "" {
		return ""
	}
	best, bestDist := "", -1
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := editDistance(query, lc)
		if d > max(2, len(query)/3) && !(len(query) >= 4 && strings.Contains(lc, query)) {
			continue
		}
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, counted in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
