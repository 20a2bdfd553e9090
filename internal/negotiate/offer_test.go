package negotiate

import (
	"encoding/binary"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func sampleOffer() *Offer {
	return &Offer{
		KexAlgorithms:                       []string{"curve25519-sha256", "ecdh-sha2-nistp256", "ext-info-c", "kex-strict-c-v00@openssh.com"},
		ServerHostKeyAlgorithms:             []string{"ssh-ed25519", "rsa-sha2-512"},
		EncryptionAlgorithmsClientToServer:  []string{"aes128-gcm@openssh.com", "aes128-ctr"},
		EncryptionAlgorithmsServerToClient:  []string{"aes256-ctr"},
		MACAlgorithmsClientToServer:         []string{"hmac-sha2-256-etm@openssh.com"},
		MACAlgorithmsServerToClient:         []string{"hmac-sha2-512"},
		CompressionAlgorithmsClientToServer: []string{"none", "zlib@openssh.com"},
		CompressionAlgorithmsServerToClient: []string{"none"},
		LanguagesClientToServer:             []string{},
		LanguagesServerToClient:             []string{},
		FirstKexPacketFollows:               true,
	}
}

func TestKexInitRoundTrip(t *testing.T) {
	o := sampleOffer()
	payload := o.MarshalKexInit([16]byte{1, 2, 3})
	got, err := ParseKexInit(payload)
	if err != nil {
		t.Fatalf("ParseKexInit(MarshalKexInit(%+v)): %v", o, err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Errorf("round trip:\ngot  %+v\nwant %+v", got, o)
	}
}

func TestParseKexInitRejects(t *testing.T) {
	good := sampleOffer().MarshalKexInit([16]byte{})
	withList := func(i int, list string) []byte {
		// Rebuild good with list i replaced.
		o := sampleOffer()
		*o.lists()[i] = nil
		b := o.MarshalKexInit([16]byte{})
		// Find list i's length prefix and splice in the raw list.
		off := 17
		for j := 0; j < i; j++ {
			off += 4 + int(binary.BigEndian.Uint32(b[off:]))
		}
		out := append([]byte{}, b[:off]...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(list)))
		out = append(out, list...)
		return append(out, b[off+4:]...)
	}
	for _, tc := range []struct {
		name    string
		payload []byte
		want    string
	}{
		{"empty", nil, "empty packet"},
		{"not KEXINIT", []byte{21, 0, 0}, "message 21, not SSH_MSG_KEXINIT"},
		{"short cookie", good[:10], "truncated in the cookie"},
		{"truncated lists", good[:30], "claims"},
		{"no trailer", good[:len(good)-5], "truncated after the name-lists"},
		{"empty name", withList(2, "aes128-ctr,,aes256-ctr"), "encryption-algorithms-client-to-server: empty algorithm name"},
		{"space in name", withList(0, "curve25519 sha256"), "kex-algorithms: algorithm name \"curve25519 sha256\""},
		{"control character", withList(4, "hmac\x00"), "mac-algorithms-client-to-server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKexInit(tc.payload)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseKexInit(%q) error %v, want one containing %q", tc.payload, err, tc.want)
			}
		})
	}
}

func FuzzParseKexInit(f *testing.F) {
	f.Add(sampleOffer().MarshalKexInit([16]byte{}))
	f.Add([]byte{20})
	f.Fuzz(func(t *testing.T, payload []byte) {
		o, err := ParseKexInit(payload)
		if err != nil {
			return
		}
		again, err := ParseKexInit(o.MarshalKexInit([16]byte{}))
		if err != nil || !reflect.DeepEqual(again, o) {
			t.Fatalf("re-parsing %+v: %+v, %v", o, again, err)
		}
	})
}

func TestOfferJSON(t *testing.T) {
	o := sampleOffer()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseOfferJSON(b)
	if err != nil {
		t.Fatalf("ParseOfferJSON(%s): %v", b, err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Errorf("JSON round trip:\ngot  %+v\nwant %+v", got, o)
	}
	empty, err := json.Marshal(&Offer{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(empty), "null") {
		t.Errorf("an empty offer marshals with null lists: %s", empty)
	}
}

func TestParseOfferJSONRejects(t *testing.T) {
	full := func(edit func(m map[string]any)) string {
		var m map[string]any
		b, _ := json.Marshal(sampleOffer())
		json.Unmarshal(b, &m)
		edit(m)
		out, _ := json.Marshal(m)
		return string(out)
	}
	for _, tc := range []struct {
		name, input, want string
	}{
		{"not an object", `["a"]`, "not a JSON object"},
		{"unknown member", full(func(m map[string]any) { m["kex"] = "x" }), `unknown member "kex"`},
		{"missing list", full(func(m map[string]any) { delete(m, "mac-algorithms-server-to-client") }), `member "mac-algorithms-server-to-client" is missing`},
		{"not a list", full(func(m map[string]any) { m["kex-algorithms"] = "curve25519-sha256" }), `member "kex-algorithms": want a list`},
		{"bad name", full(func(m map[string]any) { m["kex-algorithms"] = []string{"a,b"} }), `member "kex-algorithms", entry 0`},
		{"bad bool", full(func(m map[string]any) { m["first-kex-packet-follows"] = "no" }), "want true or false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseOfferJSON([]byte(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseOfferJSON(%s) error %v, want one containing %q", tc.input, err, tc.want)
			}
		})
	}
	// Languages may be left out.
	o, err := ParseOfferJSON([]byte(full(func(m map[string]any) {
		delete(m, "languages-client-to-server")
		delete(m, "languages-server-to-client")
	})))
	if err != nil || o.LanguagesClientToServer == nil {
		t.Errorf("an offer without languages: %+v, %v; want empty languages", o, err)
	}
}
