package transfer

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tag limits from the API model.
const (
	MaxTags        = 50
	MaxTagKeyLen   = 128
	MaxTagValueLen = 256
	tagCharsText   = "letters, digits, spaces and _ . : / = + - @"
)

// ValidateTags checks a list of tags against the API model: from least to 50 tags, keys of 1 to
// 128 and values of at most 256 characters of AWS's tag alphabet, keys distinct and not starting
// with aws:, which AWS reserves. Errors name field and the tag's index; with several problems the
// error joins them all (errors.Join), the first one first.
func ValidateTags(field string, tags []Tag, least int) error {
	if len(tags) < least {
		return Invalid(field, "must hold at least %d tag", least)
	}
	if len(tags) > MaxTags {
		return Invalid(field, "has %d tags; at most %d are allowed", len(tags), MaxTags)
	}
	var errs []error
	seen := map[string]int{}
	for i, t := range tags {
		tf := fmt.Sprintf("%s[%d]", field, i)
		if err := ValidateTagKey(tf+".Key", t.Key); err != nil {
			errs = append(errs, err)
		}
		switch n := utf8.RuneCountInString(t.Value); {
		case n > MaxTagValueLen:
			errs = append(errs, Invalid(tf+".Value", "is %d characters long; at most %d are allowed", n, MaxTagValueLen))
		case !validTagText(t.Value):
			errs = append(errs, Invalid(tf+".Value", "%q may hold only %s", t.Value, tagCharsText))
		}
		if j, ok := seen[t.Key]; ok && t.Key != "" {
			errs = append(errs, Invalid(tf+".Key", "%q is also the Key of %s[%d]", t.Key, field, j))
		} else if !ok {
			seen[t.Key] = i
		}
	}
	return errors.Join(errs...)
}

// ValidateTagKey checks one tag key.
func ValidateTagKey(field, key string) error {
	switch n := utf8.RuneCountInString(key); {
	case n == 0:
		return Invalid(field, "is required (1 to %d characters)", MaxTagKeyLen)
	case n > MaxTagKeyLen:
		return Invalid(field, "is %d characters long; at most %d are allowed", n, MaxTagKeyLen)
	case !validTagText(key):
		return Invalid(field, "%q may hold only %s", key, tagCharsText)
	case strings.HasPrefix(strings.ToLower(key), "aws:"):
		return Invalid(field, "%q begins with aws:, which AWS reserves for its own tags", key)
	}
	return NotDerived(field, key)
}

// NotDerived refuses a derived tag key in a request that sets or removes tags.
func NotDerived(field, key string) error {
	if DerivedTag(key) {
		return Invalid(field, "%q is derived by transferd from the resource's state; it cannot be set or removed", key)
	}
	return nil
}

// validTagText checks AWS's tag pattern ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$.
func validTagText(s string) bool {
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.Is(unicode.Z, r) && !unicode.IsNumber(r) && !strings.ContainsRune("_.:/=+-@", r) {
			return false
		}
	}
	return true
}

// Tags transferd derives from a resource's state and shows with its stored tags (DescribeServer,
// DescribeUser, ListTagsForResource). They are not stored, and requests that set or remove them are
// refused.
const (
	// EndpointTag is a server's listen address (host:port). CreateServer takes the new server's
	// address from it, and only there may it be given.
	EndpointTag = "transferd:Endpoint"
	// ManagedByTag is ManagedByConfig on a server or user that the config file manages: the API
	// may read it but not change it.
	ManagedByTag    = "transferd:ManagedBy"
	ManagedByConfig = "config"
	// StateReasonTag says why a server is in its state, e.g. what keeps a START_FAILED server
	// from listening.
	StateReasonTag = "transferd:StateReason"
)

// DerivedTag reports whether a tag key is one transferd derives.
func DerivedTag(key string) bool {
	return key == EndpointTag || key == ManagedByTag || key == StateReasonTag
}

// TagValue makes text a valid tag value: characters outside AWS's tag alphabet become spaces,
// and it is cut to MaxTagValueLen characters.
func TagValue(text string) string {
	var b strings.Builder
	n := 0
	for _, r := range text {
		if n == MaxTagValueLen {
			break
		}
		if !validTagText(string(r)) {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

// RecordClientOfferTag is the server tag (a transferd extension, set with CreateServer's Tags or
// TagResource, or with a config file server's RecordClientOffer field) that makes a server put
// each client's whole first KEXINIT in its CONNECTED and KEX_FAILURE records: "true" or "false".
// Without it a server records no offers.
const RecordClientOfferTag = "transferd:RecordClientOffer"

// RecordsClientOffer reports whether a server's tags turn offer recording on.
func RecordsClientOffer(tags []Tag) bool {
	for _, t := range tags {
		if t.Key == RecordClientOfferTag {
			return t.Value == "true"
		}
	}
	return false
}

// ValidateServerTags is ValidateTags for a server's tags, which may also hold transferd's
// settings: RecordClientOfferTag must be "true" or "false", and a limit's tag (Limits) must hold a
// valid value. Other keys beginning with transferd: are refused: transferd reserves the prefix for
// its settings, so that a misspelt one is not taken for a plain tag.
func ValidateServerTags(field string, tags []Tag, least int) error {
	errs := []error{ValidateTags(field, tags, least)}
	for i, t := range tags {
		tf := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case t.Key == RecordClientOfferTag:
			if t.Value != "true" && t.Value != "false" {
				errs = append(errs, Invalid(tf+".Value", "%q: %s must be true or false", t.Value, RecordClientOfferTag))
			}
		case IsLimitTag(t.Key):
			errs = append(errs, validateLimitTag(tf+".Value", t))
		case strings.HasPrefix(t.Key, LimitTagPrefix) && !DerivedTag(t.Key):
			errs = append(errs, Invalid(tf+".Key", "%q is not one of transferd's server settings, which are %s, %s and the limits %s%s",
				t.Key, EndpointTag, RecordClientOfferTag, LimitTagPrefix, strings.Join(LimitNames(), ", "+LimitTagPrefix)))
		}
	}
	return errors.Join(errs...)
}

// SettingTag reports whether a server tag key is one of transferd's settings that a config file
// server sets with its own fields (RecordClientOffer, Limits) rather than with Tags.
func SettingTag(key string) bool { return key == RecordClientOfferTag || IsLimitTag(key) }
