package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/transferd/transferd/internal/transfer"
)

// emptyPayloadHash is the SHA-256 of an empty body, which SigV4 signs for a GET.
var emptyPayloadHash = func() string {
	h := sha256.Sum256(nil)
	return hex.EncodeToString(h[:])
}()

// apiGatewayURL is the URL Transfer Family calls: {Url}/servers/{serverId}/users/{username}/config
// with the query protocol and sourceIp.
func apiGatewayURL(base, serverID string, q Query) (call, full string) {
	call = strings.TrimSuffix(base, "/") + "/servers/" + url.PathEscape(serverID) + "/users/" + url.PathEscape(q.UserName) + "/config"
	v := url.Values{}
	v.Set("protocol", q.Protocol)
	v.Set("sourceIp", q.SourceIP)
	return call, call + "?" + v.Encode()
}

// callAPIGateway calls an API_GATEWAY provider and returns its answer.
func (c *Client) callAPIGateway(ctx context.Context, srv *transfer.Server, q Query) (Call, error) {
	d := srv.IdentityProviderDetails
	callURL, full := apiGatewayURL(d.URL, srv.ServerID, q)
	call := Call{URL: callURL}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, full, nil)
	if err != nil {
		return call, fail(Unreachable, call, "the URL cannot be called: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "transferd")
	if q.HasPassword {
		if !validHeaderValue(q.Password) {
			return call, fail(Refused, call, "the password holds control characters, which an HTTP header cannot carry")
		}
		if strings.Trim(q.Password, " \t") != q.Password {
			return call, fail(Refused, call, "the password begins or ends with blanks, which an HTTP header does not keep")
		}
		req.Header.Set("Password", q.Password)
	}
	if d.InvocationRole != "" {
		if err := c.sign(ctx, req); err != nil {
			return call, err
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return call, fail(Unreachable, call, "%s", describeTransportError(ctx, err))
	}
	defer resp.Body.Close()
	call.StatusCode = resp.StatusCode
	call.Body, err = io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxResponseBytes+1))
	if err != nil {
		return call, fail(Unreachable, call, "reading the answer: %s", describeTransportError(ctx, err))
	}
	if int64(len(call.Body)) > c.opts.MaxResponseBytes {
		call.Body = call.Body[:c.opts.MaxResponseBytes]
		return call, fail(BadResponse, call, "the answer is longer than %d bytes", c.opts.MaxResponseBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return call, fail(BadResponse, call, "HTTP status %s (an API Gateway identity provider answers 200, with an empty object to refuse)", resp.Status)
	}
	return call, nil
}

// sign signs req with SigV4 for API Gateway (service execute-api), as its IAM authorization
// expects of a caller that assumed the server's InvocationRole.
func (c *Client) sign(ctx context.Context, req *http.Request) error {
	if c.opts.Credentials == nil {
		return fail(Unreachable, Call{}, "the server has an InvocationRole, so calls are signed with SigV4, and no AWS credentials are configured (IdentityProviders.AccessKeyId, or the AWS credential chain)")
	}
	creds, err := c.opts.Credentials.Retrieve(ctx)
	if err != nil {
		return fail(Unreachable, Call{}, "no AWS credentials to sign the call with: %v", err)
	}
	if err := c.signer.SignHTTP(ctx, creds, req, emptyPayloadHash, "execute-api", apiGatewayRegion(req.URL.Host, c.opts.Region), time.Now()); err != nil {
		return fail(Unreachable, Call{}, "signing the call: %v", err)
	}
	return nil
}

// apiGatewayRegion is the region in an API Gateway host name (ID.execute-api.REGION.amazonaws.com),
// or def.
func apiGatewayRegion(host, def string) string {
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	parts := strings.Split(host, ".")
	for i := 0; i+2 < len(parts); i++ {
		if parts[i] == "execute-api" && parts[i+2] == "amazonaws" {
			return parts[i+1]
		}
	}
	return def
}

// describeTransportError says why a call got no answer, without the request (whose URL holds no
// secret, but whose headers may).
func describeTransportError(ctx context.Context, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return "no answer before the deadline"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// validHeaderValue reports whether s can be an HTTP header's value: no control characters but tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
