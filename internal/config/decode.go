package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/transferd/transferd/internal/transfer"
)

// decoder turns a YAML node tree into a Config field by field, so that it knows the line of
// every field it sets and can say what is wrong in its own words. It walks the struct types by
// reflection, so the yaml tags on the fields are the only list of key names.
type decoder struct {
	problems []Problem
	// lines maps a field path (Servers[0].Users[1].UserName) to the line it is on. A path
	// missing from it takes the line of the nearest ancestor; "" is the file's top mapping.
	lines map[string]int
	// bad marks paths whose value could not be decoded: later checks say nothing about them or
	// what lies under them.
	bad map[string]bool
	// misspelled marks paths that an unknown key was probably meant to be: "is required" is not
	// reported for them, as the unknown key already was.
	misspelled map[string]bool
	// fatal is set when the file could not be read as a mapping at all.
	fatal bool
}

func newDecoder() *decoder {
	return &decoder{
		lines:      map[string]int{"": 1},
		bad:        map[string]bool{},
		misspelled: map[string]bool{},
	}
}

func (d *decoder) add(line int, field, message string) {
	d.problems = append(d.problems, Problem{Line: line, Field: field, Message: message})
}

// err returns the problems as an *Error, in file order.
func (d *decoder) err(file string) *Error {
	ps := append([]Problem(nil), d.problems...)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return &Error{File: file, Problems: ps}
}

// line returns the line of path, or of its nearest ancestor the file sets.
func (d *decoder) line(path string) int {
	for {
		if n, ok := d.lines[path]; ok {
			return n
		}
		if path == "" {
			return 0
		}
		path = parent(path)
	}
}

// isBad reports whether path or one of its ancestors could not be decoded.
func (d *decoder) isBad(path string) bool {
	for {
		if d.bad[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parent(path)
	}
}

// parent returns the path that contains path: Servers[0] for Servers[0].Endpoint, Servers for
// Servers[0], "" for Servers.
func parent(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func indexed(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func quote(s string) string { return strconv.Quote(s) }

// decodeFile decodes the single YAML document in data into c.
func (d *decoder) decodeFile(data []byte, c *Config) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		d.fatal = true
		if errors.Is(err, io.EOF) {
			d.add(1, "Servers", "at least one server is needed (the file is empty)")
			return
		}
		d.syntaxError(data, err)
		return
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.fatal = true
		d.syntaxError(data, err)
		return
	default:
		d.fatal = true
		d.add(next.Line, "", "a second YAML document begins here (---); the file must hold exactly one")
		return
	}
	var root *yaml.Node
	if len(doc.Content) > 0 {
		root = resolve(doc.Content[0])
	}
	if root == nil || isNull(root) {
		d.fatal = true
		d.add(doc.Line, "Servers", "at least one server is needed (the file is empty)")
		return
	}
	if root.Kind != yaml.MappingNode {
		d.fatal = true
		d.add(root.Line, "", "the file must be a mapping with the keys Region, AccountId, Storage and Servers, not "+describe(root))
		return
	}
	d.lines[""] = root.Line
	d.fields(root, "", reflect.ValueOf(c).Elem())
}

// syntaxError reports an error of the YAML parser in data.
func (d *decoder) syntaxError(data []byte, err error) {
	line, msg := splitYAMLError(err)
	if l := syntaxLine(data, msg); l > 0 {
		line = l
	} else if strings.HasPrefix(msg, "did not find expected") {
		msg += " (in the block that starts here: check the indentation and brackets below)"
	}
	d.add(line, "", "YAML syntax error: "+msg)
}

// splitYAMLError takes the line out of a yaml.v3 error, whose text is the only place it says
// it ("yaml: line 3: did not find expected key").
func splitYAMLError(err error) (line int, msg string) {
	msg = strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				return n, after
			}
		}
	}
	return 0, msg
}

// syntaxLine finds the line of a syntax error, or returns 0. For many errors yaml.v3 names the
// line where the enclosing block starts, or none; the line to fix is the last line of the
// shortest part of the file that fails with the same message. Shorter parts parse or fail with
// other messages (an unclosed bracket, an unexpected end), so a binary search finds it.
func syntaxLine(data []byte, msg string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	fails := func(n int) bool {
		err := parseAll(bytes.Join(lines[:n], nil))
		if err == nil {
			return false
		}
		_, m := splitYAMLError(err)
		return m == msg
	}
	if !fails(len(lines)) {
		return 0
	}
	return sort.Search(len(lines), func(i int) bool { return fails(i + 1) }) + 1
}

// parseAll parses every YAML document in data.
func parseAll(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// resolve follows aliases (*name) to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// describe names what a node is, for messages: "a mapping", "the string \"SFTP\"".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		switch n.ShortTag() {
		case "!!null":
			return "empty"
		case "!!int", "!!float":
			return "the number " + v
		case "!!bool":
			return "the boolean " + v
		default:
			return "the string " + quote(v)
		}
	}
	return "an unexpected YAML node"
}

// value decodes n into v, which is a string, a bool, a slice, a pointer to a struct or a struct.
func (d *decoder) value(n *yaml.Node, path string, v reflect.Value) {
	n = resolve(n)
	null := isNull(n)
	switch v.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.typeError(n, path, "a string")
			return
		}
		if !null {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		if null {
			return
		}
		var b bool
		if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
			d.typeError(n, path, "true or false")
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		if null {
			return
		}
		var i int64
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&i) != nil {
			d.typeError(n, path, "a whole number")
			return
		}
		v.SetInt(i)
	case reflect.Slice:
		if null {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.typeError(n, path, "a list (- item lines, or [a, b])")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			ip := indexed(path, i)
			d.lines[ip] = item.Line
			d.value(item, ip, s.Index(i))
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if !null {
			d.value(n, path, p.Elem())
		}
		v.Set(p)
	case reflect.Struct:
		if null {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.typeError(n, path, "a mapping (Key: value lines)")
			return
		}
		d.fields(n, path, v)
	default:
		panic(fmt.Sprintf("config: field %s has kind %s, which the decoder does not handle", path, v.Kind()))
	}
}

func (d *decoder) typeError(n *yaml.Node, path, want string) {
	d.bad[path] = true
	d.add(n.Line, path, "must be "+want+", not "+describe(n))
}

// pair is a key and its value in a mapping; merged is set for keys that came from a merge key (<<).
type pair struct {
	key, value *yaml.Node
	merged     bool
}

// pairs returns the keys of mapping n, explicit ones first, then those merged in with <<.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var explicit, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!merge" {
			explicit = append(explicit, pair{key: k, value: v})
			continue
		}
		v = resolve(v)
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, src := range sources {
			src = resolve(src)
			if src.Kind != yaml.MappingNode {
				d.add(k.Line, path, "<< must merge a mapping or a list of mappings, not "+describe(src))
				continue
			}
			for _, p := range d.pairs(src, path) {
				p.merged = true
				merged = append(merged, p)
			}
		}
	}
	return append(explicit, merged...)
}

// fields decodes mapping n into struct v, whose fields name their keys in yaml tags.
func (d *decoder) fields(n *yaml.Node, path string, v reflect.Value) {
	t := v.Type()
	var names []string
	index := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		index[name] = i
		names = append(names, name)
	}
	seen := map[string]int{}
	for _, p := range d.pairs(n, path) {
		k := resolve(p.key)
		if k.Kind != yaml.ScalarNode {
			d.add(p.key.Line, path, "a key must be a field name, not "+describe(k))
			continue
		}
		name := k.Value
		fp := join(path, name)
		if first, ok := seen[name]; ok {
			if !p.merged {
				d.bad[fp] = true
				d.add(p.key.Line, fp, fmt.Sprintf("is set twice (first at line %d)", first))
			}
			continue
		}
		seen[name] = p.key.Line
		i, ok := index[name]
		if !ok {
			d.unknown(p.key.Line, path, name, names, t)
			continue
		}
		d.lines[fp] = p.key.Line
		d.value(p.value, fp, v.Field(i))
	}
}

// unknown reports a key that t has no field for.
func (d *decoder) unknown(line int, path, name string, known []string, t reflect.Type) {
	if msg := notSupported(t, name); msg != "" {
		d.add(line, path, msg)
		return
	}
	if s := transfer.Suggest(name, known); s != "" {
		d.misspelled[join(path, s)] = true
		d.add(line, path, fmt.Sprintf("unknown field %q (did you mean %q?)", name, s))
		return
	}
	d.add(line, path, fmt.Sprintf("unknown field %q; the fields here are %s", name, strings.Join(known, ", ")))
}

// notSupported explains why a key that Transfer Family or CloudFormation knows is not accepted
// where it is, or returns "".
func notSupported(t reflect.Type, key string) string {
	misplaced := func(hint string) string { return fmt.Sprintf("%q does not belong here: %s", key, hint) }
	unsupported := func(why string) string { return fmt.Sprintf("%q is not supported: %s", key, why) }
	switch t {
	case reflect.TypeFor[Config]():
		if key == "Users" {
			return misplaced("users belong to a server; list them under Servers[N].Users")
		}
	case reflect.TypeFor[Server]():
		switch key {
		case "Certificate":
			return unsupported("it is for FTPS, and transferd serves SFTP only")
		case "EndpointType", "EndpointDetails", "IpAddressType":
			return unsupported("transferd listens on the address in Endpoint")
		case "HostKey":
			return unsupported("transferd generates host keys in its data directory; import others through the API")
		case "LoggingRole", "StructuredLogDestinations":
			return unsupported("transferd writes activity records itself, without CloudWatch")
		case "S3StorageOptions":
			return unsupported("transferd does not implement it")
		}
	case reflect.TypeFor[IdentityProviderDetails]():
		if key == "DirectoryId" {
			return unsupported("AWS_DIRECTORY_SERVICE is not available; use API_GATEWAY or AWS_LAMBDA")
		}
	case reflect.TypeFor[ProtocolDetails]():
		switch key {
		case "PassiveIp", "TlsSessionResumptionMode", "As2Transports":
			return unsupported("it is for FTP, FTPS or AS2, and transferd serves SFTP only")
		}
	case reflect.TypeFor[User]():
		switch key {
		case "ServerId":
			return misplaced("a user belongs to the server it is listed under")
		case "SshPublicKeyBody":
			return misplaced("list keys under SshPublicKeys, one authorized_keys line per item")
		}
	}
	return ""
}
