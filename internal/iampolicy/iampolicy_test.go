package iampolicy

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/transferd/transferd/internal/transfer"
)

// scopeDown is AWS's documented Transfer Family session policy that limits users to their home
// directories ("Example session policy", Transfer Family User Guide).
const scopeDown = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "AllowListingOfUserFolder",
      "Action": ["s3:ListBucket"],
      "Effect": "Allow",
      "Resource": ["arn:aws:s3:::${transfer:HomeBucket}"],
      "Condition": {"StringLike": {"s3:prefix": ["${transfer:HomeFolder}/*", "${transfer:HomeFolder}"]}}
    },
    {
      "Sid": "HomeDirObjectAccess",
      "Effect": "Allow",
      "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
                 "s3:GetObjectVersion", "s3:GetObjectACL", "s3:PutObjectACL"],
      "Resource": "arn:aws:s3:::${transfer:HomeDirectory}*"
    }
  ]
}`

// readOnly allows listing and reading one bucket, nothing else.
const readOnly = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::bucket1"},
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": "arn:aws:s3:::bucket1/*"}
  ]
}`

// userPrefix is the IAM User Guide's "home folder" example with Transfer Family's user name
// variable: list the bucket root and home/, everything below home/USER/, and deny the rest of
// home/ explicitly.
const userPrefix = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "AllowRootAndHomeListingOfBucket", "Effect": "Allow", "Action": "s3:ListBucket",
     "Resource": "arn:aws:s3:::bucket1",
     "Condition": {"StringEquals": {"s3:prefix": ["", "home/", "home/${transfer:UserName}/"], "s3:delimiter": "/"}}},
    {"Sid": "AllowListingOfUserFolder", "Effect": "Allow", "Action": "s3:ListBucket",
     "Resource": "arn:aws:s3:::bucket1",
     "Condition": {"StringLike": {"s3:prefix": "home/${transfer:UserName}/*"}}},
    {"Sid": "AllowAllS3ActionsInUserFolder", "Effect": "Allow", "Action": "s3:*",
     "Resource": "arn:aws:s3:::bucket1/home/${transfer:UserName}/*"},
    {"Sid": "DenyOtherHomes", "Effect": "Deny", "Action": "s3:*",
     "NotResource": ["arn:aws:s3:::bucket1/home/${transfer:UserName}/*", "arn:aws:s3:::bucket1"]}
  ]
}`

func bind(t *testing.T, doc string, vars Vars) *Bound {
	t.Helper()
	p, err := Parse(doc)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	b, err := p.Bind(vars)
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	return b
}

func TestEvaluate(t *testing.T) {
	bob := UserVars(&transfer.User{UserName: "bob", HomeDirectoryType: transfer.HomePath, HomeDirectory: "/bucket/home/bob"})
	alice := Vars{VarUserName: "alice"}
	list := func(bucket, prefix string) Request {
		return Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::" + bucket,
			Context: map[string]string{KeyS3Prefix: prefix, KeyS3Delimiter: "/"}}
	}
	obj := func(action, path string) Request {
		return Request{Action: action, Resource: "arn:aws:s3:::" + path}
	}
	for _, tc := range []struct {
		name   string
		doc    string
		vars   Vars
		req    Request
		allow  bool
		stmt   int // deciding statement, -1 none
		reason string
	}{
		{"scope-down: list home", scopeDown, bob, list("bucket", "home/bob/"), true, 0, "allowed by Statement[0] of the session policy (Sid AllowListingOfUserFolder)"},
		{"scope-down: list home without slash", scopeDown, bob, list("bucket", "home/bob"), true, 0, ""},
		{"scope-down: list subfolder", scopeDown, bob, list("bucket", "home/bob/reports/"), true, 0, ""},
		{"scope-down: list parent", scopeDown, bob, list("bucket", "home/"), false, -1, "no statement of the session policy allows it"},
		{"scope-down: list another home", scopeDown, bob, list("bucket", "home/alice/"), false, -1, ""},
		{"scope-down: list other bucket", scopeDown, bob, list("other", "home/bob/"), false, -1, ""},
		{"scope-down: get", scopeDown, bob, obj("s3:GetObject", "bucket/home/bob/a.txt"), true, 1, ""},
		{"scope-down: put deep", scopeDown, bob, obj("s3:PutObject", "bucket/home/bob/x/y/z"), true, 1, ""},
		{"scope-down: action case-insensitive", scopeDown, bob, obj("S3:getobject", "bucket/home/bob/a"), true, 1, ""},
		{"scope-down: ACL action as written", scopeDown, bob, obj("s3:GetObjectAcl", "bucket/home/bob/a"), true, 1, ""},
		{"scope-down: delete", scopeDown, bob, obj("s3:DeleteObject", "bucket/home/bob/a"), true, 1, ""},
		{"scope-down: get elsewhere", scopeDown, bob, obj("s3:GetObject", "bucket/home/alice/a"), false, -1, ""},
		// The documented caveat: without a trailing slash the home prefix also matches bobby.
		{"scope-down: prefix sibling", scopeDown, bob, obj("s3:GetObject", "bucket/home/bobby/a"), true, 1, ""},
		{"scope-down: resource is case-sensitive", scopeDown, bob, obj("s3:GetObject", "bucket/home/BOB/a"), false, -1, ""},
		{"scope-down: other action", scopeDown, bob, obj("s3:PutBucketPolicy", "bucket/home/bob/a"), false, -1, ""},

		{"read-only: list", readOnly, alice, list("bucket1", "alice/"), true, 0, ""},
		{"read-only: get", readOnly, alice, obj("s3:GetObject", "bucket1/alice/f"), true, 1, ""},
		{"read-only: put", readOnly, alice, obj("s3:PutObject", "bucket1/alice/f"), false, -1, ""},
		{"read-only: delete", readOnly, alice, obj("s3:DeleteObject", "bucket1/alice/f"), false, -1, ""},
		{"read-only: other bucket", readOnly, alice, obj("s3:GetObject", "bucket2/f"), false, -1, ""},

		{"user prefix: list root", userPrefix, alice, list("bucket1", ""), true, 0, ""},
		{"user prefix: list home/", userPrefix, alice, list("bucket1", "home/"), true, 0, ""},
		{"user prefix: list own", userPrefix, alice, list("bucket1", "home/alice/"), true, 0, ""},
		{"user prefix: list own subfolder", userPrefix, alice, list("bucket1", "home/alice/docs/"), true, 1, ""},
		{"user prefix: list another", userPrefix, alice, list("bucket1", "home/bob/"), false, -1, ""},
		{"user prefix: put own", userPrefix, alice, obj("s3:PutObject", "bucket1/home/alice/f"), true, 2, ""},
		{"user prefix: put another", userPrefix, alice, obj("s3:PutObject", "bucket1/home/bob/f"), false, 3, "explicitly denied by Statement[3] of the session policy (Sid DenyOtherHomes)"},
		{"user prefix: put at home/", userPrefix, alice, obj("s3:PutObject", "bucket1/home/f"), false, 3, ""},
		{"user prefix: deny wins over the allow of s3:*", userPrefix, alice, obj("s3:GetObject", "bucket1/home/alice"), false, 3, ""},
		{"user prefix: list without delimiter", userPrefix, alice, Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::bucket1",
			Context: map[string]string{KeyS3Prefix: ""}}, false, -1, ""},

		{"deny overrides allow", `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":"s3:*","Resource":"*"},
			{"Sid":"NoDeletes","Effect":"Deny","Action":"s3:Delete*","Resource":"*"}]}`, alice,
			obj("s3:DeleteObject", "b/k"), false, 1, "explicitly denied by Statement[1] of the session policy (Sid NoDeletes)"},
		{"NotAction allows everything else", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","NotAction":["s3:DeleteObject","s3:PutObject"],"Resource":"*"}}`, alice,
			obj("s3:GetObject", "b/k"), true, 0, ""},
		{"NotAction excludes", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","NotAction":["s3:DeleteObject","s3:PutObject"],"Resource":"*"}}`, alice,
			obj("s3:PutObject", "b/k"), false, -1, ""},
		{"? matches one character", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/file-?.txt"}}`, alice,
			obj("s3:GetObject", "b/file-é.txt"), true, 0, ""},
		{"? does not match two", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/file-?.txt"}}`, alice,
			obj("s3:GetObject", "b/file-10.txt"), false, -1, ""},
		{"${*} is a literal star", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${*}"}}`, alice,
			obj("s3:GetObject", "b/x"), false, -1, ""},
		{"${*} matches a star", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${*}"}}`, alice,
			obj("s3:GetObject", "b/*"), true, 0, ""},
		{"StringNotLike holds when the key is absent", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"StringNotLike":{"s3:prefix":"secret/*"}}}}`, alice,
			Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::b"}, true, 0, ""},
		{"StringNotLike refuses a match", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"StringNotLike":{"s3:prefix":["secret/*","private/*"]}}}}`, alice,
			list("b", "private/x/"), false, -1, ""},
		{"StringLike fails when the key is absent", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"StringLike":{"s3:prefix":"*"}}}}`, alice,
			Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::b"}, false, -1, ""},
		{"StringLikeIfExists holds when absent", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"StringLikeIfExists":{"s3:prefix":"pub/*"}}}}`, alice,
			Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::b"}, true, 0, ""},
		{"StringLikeIfExists checks when present", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"StringLikeIfExists":{"s3:prefix":"pub/*"}}}}`, alice,
			list("b", "priv/"), false, -1, ""},
		{"StringEquals is exact", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"StringEquals":{"s3:prefix":"pub/*"}}}}`, alice,
			list("b", "pub/x/"), false, -1, ""},
		{"StringEqualsIgnoreCase", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"StringEqualsIgnoreCase":{"S3:Prefix":"${transfer:UserName}/"}}}}`, alice,
			list("b", "ALICE/"), true, 0, ""},
		{"StringNotEquals", `{"Version":"2012-10-17","Statement":{
			"Effect":"Deny","Action":"s3:ListBucket","Resource":"*","Condition":{"StringNotEquals":{"s3:prefix":["","alice/"]}}}}`, alice,
			list("b", "bob/"), false, 0, ""},
		{"conditions are all required", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{
			"StringLike":{"s3:prefix":"alice/*"},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}`, alice,
			Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::b", Context: map[string]string{KeyS3Prefix: "alice/", KeySourceIP: "192.0.2.1"}}, false, -1, ""},
		{"IpAddress", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.7"]}}}}`, alice,
			Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: map[string]string{KeySourceIP: "192.0.2.7"}}, true, 0, ""},
		{"NotIpAddress", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{
			"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}]}`, alice,
			Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: map[string]string{KeySourceIP: "::ffff:127.0.0.1"}}, true, 0, ""},
		{"Null true: key absent", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"Null":{"s3:prefix":"true"}}}}`, alice,
			Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::b"}, true, 0, ""},
		{"Null false: key present", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"Null":{"s3:prefix":false}}}}`, alice,
			Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::b"}, false, -1, ""},
		{"ForAllValues holds when absent", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"ForAllValues:StringLike":{"s3:prefix":"x/*"}}}}`, alice,
			Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::b"}, true, 0, ""},
		{"ForAnyValue fails when absent", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"ForAnyValue:StringNotLike":{"s3:prefix":"x/*"}}}}`, alice,
			Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::b"}, false, -1, ""},
		{"the 2008 version without variables", `{"Version":"2008-10-17","Statement":{
			"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}`, alice,
			obj("s3:GetObject", "b/k"), true, 0, ""},
		{"a user name is literal text", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${transfer:UserName}/*"}}`, Vars{VarUserName: "a*"},
			obj("s3:GetObject", "b/abc/k"), false, -1, ""},
		{"variables are case-insensitive", `{"Version":"2012-10-17","Statement":{
			"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${Transfer:UserName}/*"}}`, alice,
			obj("s3:GetObject", "b/alice/k"), true, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := bind(t, tc.doc, tc.vars).Evaluate(tc.req)
			if d.Allowed != tc.allow || d.Statement != tc.stmt {
				t.Errorf("%+v: got allowed=%v by statement %d (%s), want allowed=%v by statement %d",
					tc.req, d.Allowed, d.Statement, d, tc.allow, tc.stmt)
			}
			if tc.reason != "" && d.String() != tc.reason {
				t.Errorf("reason %q, want %q", d.String(), tc.reason)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"not JSON", `{"Version":`, "not a JSON object"},
		{"array", `[]`, "not a JSON object"},
		{"trailing text", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}} x`, "text after"},
		{"no statement", `{"Version":"2012-10-17"}`, "Statement: is required"},
		{"empty statement list", `{"Version":"2012-10-17","Statement":[]}`, "Statement: is empty"},
		{"bad version", `{"Version":"2020-01-01","Statement":[]}`, `Version: "2020-01-01" must be`},
		{"unknown element", `{"Version":"2012-10-17","Statment":[]}`, "Statment: is not a policy element"},
		{"principal", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}`, "Statement[0].Principal: a session policy has no principal"},
		{"bad effect", `{"Version":"2012-10-17","Statement":{"Effect":"allow","Action":"s3:*","Resource":"*"}}`, `Statement[0].Effect: "allow" must be Allow or Deny`},
		{"no effect", `{"Version":"2012-10-17","Statement":{"Action":"s3:*","Resource":"*"}}`, "Statement[0].Effect: is required"},
		{"action and notaction", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","NotAction":"s3:Get*","Resource":"*"}}`, "has both Action and NotAction"},
		{"no action", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}`, "needs Action or NotAction"},
		{"bad action", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"GetObject","Resource":"*"}}`, `Statement[0].Action[0]: "GetObject" is not an action`},
		{"no resource", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*"}}`, "needs Resource or NotResource"},
		{"bad resource", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"bucket/*"}}`, "is not a resource ARN"},
		{"unknown operator", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"ArnLike":{"aws:SourceArn":"x"}}}}`, "Statement[0].Condition.ArnLike: is not a condition operator transferd evaluates"},
		{"unknown key", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"s3:x-amz-acl":"private"}}}}`, "Statement[0].Condition.StringEquals.s3:x-amz-acl: is not a condition key transferd can supply"},
		{"ip operator on a string key", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"IpAddress":{"s3:prefix":"10.0.0.0/8"}}}}`, "use it with aws:SourceIp"},
		{"bad CIDR", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}}`, "is not an IP address or CIDR block"},
		{"unknown variable", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}/*"}}`, "${aws:username} is not a variable transferd can supply"},
		{"variable in 2008", `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${transfer:UserName}/*"}}`, "policy variables need"},
		{"variable without version", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${transfer:UserName}/*"}}`, "policy variables need"},
		{"default value syntax", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${transfer:UserName, 'x'}/*"}}`, "is not a variable transferd can supply"},
		{"unterminated variable", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${transfer:UserName"}}`, "unterminated"},
		{"duplicate sid", `{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"s3:*","Resource":"*"}]}`, `Statement[1].Sid: "A" is also the Sid of Statement[0]`},
		{"object as a list value", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":{"x":1},"Resource":"*"}}`, "Statement[0].Action: must be a string or a list of strings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%s) = %v, want an error containing %q", tc.doc, err, tc.want)
			}
		})
	}
}

func TestCheckUser(t *testing.T) {
	path := func(home, policy string) *transfer.User {
		return &transfer.User{UserName: "bob", HomeDirectoryType: transfer.HomePath, HomeDirectory: home, Policy: policy}
	}
	logical := &transfer.User{UserName: "bob", HomeDirectoryType: transfer.HomeLogical,
		HomeDirectoryMappings: []transfer.Mapping{{Entry: "/", Target: "/b/bob"}}, Policy: scopeDown}
	for _, tc := range []struct {
		name string
		u    *transfer.User
		want string // "" for no error
	}{
		{"no policy", path("", ""), ""},
		{"scope-down with a home", path("/bucket/home/${transfer:UserName}", scopeDown), ""},
		{"scope-down without a home", path("", scopeDown), "Policy: ${transfer:HomeBucket} needs a HomeDirectory"},
		{"scope-down with LOGICAL", logical, "Policy: ${transfer:HomeBucket} cannot be used with a LOGICAL home directory"},
		{"user name with LOGICAL", &transfer.User{UserName: "bob", HomeDirectoryType: transfer.HomeLogical,
			HomeDirectoryMappings: []transfer.Mapping{{Entry: "/", Target: "/b/bob"}}, Policy: userPrefix}, ""},
		{"unparsable", path("", `{"Statement":`), "Policy: not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckUser(tc.u)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("CheckUser: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("CheckUser = %v, want an error containing %q", err, tc.want)
			case err != nil && transfer.KindOf(err) != transfer.KindInvalid:
				t.Errorf("CheckUser error kind %v, want invalid", transfer.KindOf(err))
			}
		})
	}
	vars := UserVars(path("/bucket/home/${transfer:UserName}", ""))
	want := Vars{VarUserName: "bob", VarHomeDirectory: "bucket/home/bob", VarHomeBucket: "bucket", VarHomeFolder: "home/bob"}
	if len(vars) != len(want) {
		t.Fatalf("UserVars = %v, want %v", vars, want)
	}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("UserVars[%s] = %q, want %q", k, vars[k], v)
		}
	}
}

func FuzzPattern(f *testing.F) {
	f.Add("arn:aws:s3:::b/*/x?y*", "arn:aws:s3:::b/a/b/xzy")
	f.Add("**?*", "")
	f.Fuzz(func(t *testing.T, pat, s string) {
		if !utf8.ValidString(pat) || !utf8.ValidString(s) {
			return // policies are JSON text; the naive matcher reads runes
		}
		p := compile(pat, nil)
		got := p.match(s)
		if want := naiveMatch(pat, s); got != want {
			t.Fatalf("match(%q, %q) = %v, naive %v", pat, s, got, want)
		}
	})
}

// naiveMatch is a slow, obviously right glob matcher over characters.
func naiveMatch(pat, s string) bool {
	p, r := []rune(pat), []rune(s)
	var m func(i, j int) bool
	memo := map[[2]int]bool{}
	m = func(i, j int) bool {
		k := [2]int{i, j}
		if v, ok := memo[k]; ok {
			return v
		}
		var res bool
		switch {
		case i == len(p):
			res = j == len(r)
		case p[i] == '*':
			res = m(i+1, j) || (j < len(r) && m(i, j+1))
		case j < len(r) && (p[i] == '?' || p[i] == r[j]):
			res = m(i+1, j+1)
		}
		memo[k] = res
		return res
	}
	return m(0, 0)
}

func TestLiteralOperatorsKeepWildcardCharacters(t *testing.T) {
	b := bind(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*",
		"Condition":{"StringEquals":{"s3:prefix":"a**b?"}}}}`, Vars{VarUserName: "alice"})
	for prefix, want := range map[string]bool{"a**b?": true, "a*b?": false, "axxbz": false} {
		d := b.Evaluate(Request{Action: "s3:ListBucket", Resource: "arn:aws:s3:::b", Context: map[string]string{KeyS3Prefix: prefix}})
		if d.Allowed != want {
			t.Errorf("StringEquals a**b? with prefix %q: allowed %v, want %v", prefix, d.Allowed, want)
		}
	}
	for _, doc := range []string{
		`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":null}}`,
		`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"StringLike":null}}}`,
	} {
		if _, err := Parse(doc); err == nil || !strings.Contains(err.Error(), "must map") {
			t.Errorf("Parse(%s) = %v, want a refusal of the empty condition", doc, err)
		}
	}
}
