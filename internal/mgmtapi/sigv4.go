package mgmtapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Credentials are an access key pair that may call the API.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

// NewCredentials returns a fresh random access key pair shaped like AWS's, so that tools which
// check the shape accept it: an access key ID of "AKIA" and 16 characters of A-Z and 2-7, and a
// 40-character secret of base64 characters.
func NewCredentials() Credentials {
	var secret [30]byte
	_, _ = rand.Read(secret[:]) // never fails; see crypto/rand.Read
	return Credentials{
		AccessKeyID:     "AKIA" + rand.Text()[:16],
		SecretAccessKey: base64.StdEncoding.EncodeToString(secret[:]),
	}
}

// amzDateLayout is the form of X-Amz-Date.
const amzDateLayout = "20060102T150405Z"

// sigV4Header is a parsed Authorization header.
type sigV4Header struct {
	accessKeyID   string
	date          string // yyyymmdd of the credential scope
	region        string
	service       string
	signedHeaders []string
	signature     string
}

// authenticate checks the request's SigV4 signature over body. It returns the access key ID the
// request claims (for the log, also when it fails) and an error answer when the check fails.
func (h *Handler) authenticate(r *http.Request, body []byte) (string, *apiError) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		q := r.URL.Query()
		if q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential") || q.Has("X-Amz-Algorithm") {
			return "", authError(http.StatusBadRequest, codeIncompleteSig,
				"transferd accepts SigV4 in the Authorization header only, not in the query string (presigned requests)")
		}
		if r.Header.Get("X-Amz-Security-Token") != "" {
			return "", authError(http.StatusBadRequest, codeIncompleteSig,
				"Authorization header missing: a security token alone does not authenticate a request")
		}
		return "", authError(http.StatusBadRequest, codeMissingAuth, "Missing Authentication Token")
	}
	sh, aerr := parseAuthorization(authz)
	if aerr != nil {
		return "", aerr
	}
	akid := sh.accessKeyID

	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return akid, authError(http.StatusBadRequest, codeIncompleteSig,
			"Authorization header requires existence of a 'X-Amz-Date' header.")
	}
	signed, err := time.Parse(amzDateLayout, amzDate)
	if err != nil {
		return akid, authError(http.StatusBadRequest, codeIncompleteSig,
			fmt.Sprintf("X-Amz-Date %s is not of the form %s.", quote(amzDate), amzDateLayout))
	}
	if sh.date != amzDate[:8] {
		return akid, authError(http.StatusBadRequest, codeIncompleteSig,
			fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
				sh.date, amzDate[:8], amzDate))
	}

	secret, ok := h.secrets[akid]
	if !ok || r.Header.Get("X-Amz-Security-Token") != "" {
		// transferd hands out no session tokens, so a request with one cannot be genuine.
		return akid, authError(http.StatusForbidden, codeUnrecognizedCli, msgUnrecognizedClient)
	}

	now := h.now().UTC()
	if earliest := now.Add(-h.maxSkew); signed.Before(earliest) {
		return akid, authError(http.StatusForbidden, codeInvalidSignature,
			fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %s.)",
				amzDate, earliest.Format(amzDateLayout), now.Format(amzDateLayout), skewText(h.maxSkew)))
	}
	if latest := now.Add(h.maxSkew); signed.After(latest) {
		return akid, authError(http.StatusForbidden, codeInvalidSignature,
			fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %s.)",
				amzDate, latest.Format(amzDateLayout), now.Format(amzDateLayout), skewText(h.maxSkew)))
	}

	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed != "" && !strings.EqualFold(claimed, payloadHash) {
		return akid, authError(http.StatusForbidden, codeInvalidSignature,
			"The provided 'x-amz-content-sha256' header does not match what was computed.")
	}

	want, err := h.expectedSignature(r, body, sh, secret, payloadHash, signed)
	if err != nil {
		return akid, &apiError{status: http.StatusInternalServerError, code: codeInternal, message: msgInternal,
			cause: fmt.Errorf("compute the request's signature: %w", err)}
	}
	if !hmac.Equal([]byte(want), []byte(sh.signature)) {
		return akid, authError(http.StatusForbidden, codeInvalidSignature, msgSignatureMismatch)
	}
	return akid, nil
}

// expectedSignature signs a copy of r that carries only the headers the client signed, with the
// client's scope and time, and returns the signature.
func (h *Handler) expectedSignature(r *http.Request, body []byte, sh sigV4Header, secret, payloadHash string, signed time.Time) (string, error) {
	u := *r.URL
	u.Scheme, u.Host = "", "" // the signer strips default ports by scheme; the client already did
	cp := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: make(http.Header)}
	for _, name := range sh.signedHeaders {
		switch name {
		case "host":
			// The signer takes it from cp.Host.
		case "content-length":
			// The signer signs ContentLength when it is positive. It is what was read: the
			// Content-Length header's value, which the HTTP server enforces.
			cp.ContentLength = int64(len(body))
		default:
			if vs := r.Header.Values(name); len(vs) > 0 {
				cp.Header[http.CanonicalHeaderKey(name)] = slices.Clone(vs)
			}
		}
	}
	creds := aws.Credentials{AccessKeyID: sh.accessKeyID, SecretAccessKey: secret}
	if err := h.signer.SignHTTP(r.Context(), creds, cp, payloadHash, sh.service, sh.region, signed); err != nil {
		return "", err
	}
	got, aerr := parseAuthorization(cp.Header.Get("Authorization"))
	if aerr != nil {
		return "", fmt.Errorf("parse the signer's own Authorization header: %w", aerr)
	}
	return got.signature, nil
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=a;b;c, Signature=HEX" and checks its scope. It fails with an
// IncompleteSignatureException whose message never repeats the signature.
func parseAuthorization(v string) (sigV4Header, *apiError) {
	var sh sigV4Header
	incomplete := func(format string, args ...any) (sigV4Header, *apiError) {
		return sh, authError(http.StatusBadRequest, codeIncompleteSig, fmt.Sprintf(format, args...))
	}
	alg, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
	if alg != "AWS4-HMAC-SHA256" {
		return incomplete("Unsupported Authorization algorithm %s: only AWS4-HMAC-SHA256 (SigV4) is accepted.", quote(alg))
	}
	params := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		if _, dup := params[k]; dup {
			return incomplete("Authorization header has the %s parameter twice.", quote(k))
		}
		params[k] = val
	}
	var missing []string
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if params[k] == "" {
			missing = append(missing, fmt.Sprintf("Authorization header requires '%s' parameter.", k))
		}
	}
	if len(missing) > 0 {
		return incomplete("%s", strings.Join(missing, " "))
	}
	scope := strings.Split(params["Credential"], "/")
	if len(scope) != 5 || scope[0] == "" {
		return incomplete("Credential must have the form ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request.")
	}
	sh.accessKeyID, sh.date, sh.region, sh.service = scope[0], scope[1], scope[2], scope[3]
	if _, err := time.Parse("20060102", sh.date); err != nil || len(sh.date) != 8 {
		return incomplete("Credential should be scoped to a valid date (YYYYMMDD), not %s.", quote(sh.date))
	}
	if sh.region == "" {
		return incomplete("Credential should be scoped to a valid region.")
	}
	if sh.service != signingName {
		return incomplete("Credential should be scoped to correct service: '%s'.", signingName)
	}
	if scope[4] != "aws4_request" {
		return incomplete("Credential should be scoped with a valid terminator: 'aws4_request', not %s.", quote(scope[4]))
	}
	sh.signedHeaders = strings.Split(params["SignedHeaders"], ";")
	for _, name := range sh.signedHeaders {
		if name == "" || name != strings.ToLower(name) {
			return incomplete("SignedHeaders must be lowercase header names separated by ';'.")
		}
	}
	// X-Amz-Target names the operation: unsigned, a captured request could be replayed as another
	// operation within the allowed skew. The SDKs and the CLI always sign it.
	for _, name := range []string{"host", "x-amz-date", "x-amz-target"} {
		if !slices.Contains(sh.signedHeaders, name) {
			return incomplete("SignedHeaders must include '%s'.", name)
		}
	}
	sh.signature = params["Signature"]
	return sh, nil
}

// skewText writes a skew as AWS's messages do: "15 min".
func skewText(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return d.String()
}
