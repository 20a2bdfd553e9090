package mgmtapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// decode reads a request body into an operation's input, whose field names are the model's
// member names. An empty body is an empty input. Malformed JSON, members the input does not have
// (matched case-sensitively, unlike encoding/json) and members of the wrong type are
// SerializationExceptions naming the member.
func decode(body []byte, in any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return serializationError(jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return serializationError("the request body holds more than one JSON value")
	}
	if _, ok := doc.(map[string]any); !ok {
		return serializationError("the request body must be a JSON object")
	}
	if err := checkMembers("", doc, reflect.TypeOf(in)); err != nil {
		return err
	}
	if err := json.Unmarshal(body, in); err != nil {
		return serializationError(jsonProblem(err))
	}
	return nil
}

// jsonProblem describes a decoding error for a client.
func jsonProblem(err error) string {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("the request body is not valid JSON: %v (at byte %d)", se, se.Offset)
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return fmt.Sprintf("%s: expected %s, got a JSON %s", te.Field, jsonTypeName(te.Type), te.Value)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "the request body is truncated JSON"
	}
	return "the request body is not valid JSON"
}

// jsonTypeName names the JSON type a Go type decodes from.
func jsonTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

// checkMembers walks a decoded JSON value alongside the Go type it will be decoded into and
// refuses object members the type lacks. Type mismatches are left to json.Unmarshal.
func checkMembers(path string, v any, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[json.RawMessage]() {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		for name, val := range obj {
			f, ok := memberField(t, name)
			if !ok {
				return serializationError(fmt.Sprintf("%s is not a member of the operation's input", joinPath(path, name)))
			}
			if err := checkMembers(joinPath(path, name), val, f.Type); err != nil {
				return err
			}
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, val := range list {
			if err := checkMembers(path+"["+strconv.Itoa(i)+"]", val, t.Elem()); err != nil {
				return err
			}
		}
	}
	return nil
}

// memberField finds the field of struct type t that decodes member name: the field's json tag
// name, or its Go name when it has none. Matching is exact.
func memberField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
			// Members of an embedded struct are promoted, as encoding/json does.
			if ef, ok := memberField(f.Type, name); ok {
				return ef, true
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// epochSeconds is a timestamp as awsJson1_1 writes it: a JSON number of seconds since the Unix
// epoch, with milliseconds as a fraction.
type epochSeconds time.Time

func (t epochSeconds) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	if ms%1000 == 0 {
		return fmt.Appendf(nil, "%s%d", sign, ms/1000), nil
	}
	return fmt.Appendf(nil, "%s%d.%03d", sign, ms/1000, ms%1000), nil
}
