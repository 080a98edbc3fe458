package vxp_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sdk is the agencies' SDK (SDKVXP 2.0.1) as docs/vxp.md records its
// requests: every parameter a header XroadVnpt-<key>, from one mutable map
// per service object that keeps the keys of earlier calls; a timestamp
// set once when the object is made; the signed headers as a JSON object
// whose HMAC-SHA256 with the secret is sent in hex.
type sdk struct {
	tb       testing.TB
	endpoint string
	secret   string
	headers  map[string]string // carried over from call to call, as the SDK does
	order    []string          // keys in the order the SDK first set them
	http     *http.Client
}

// signedKeys are the keys the SDK signs.
var signedKeys = []string{"systemid", "servicetype", "messagetype", "timestamp", "Content-Type"}

func newSDK(tb testing.TB, endpoint, systemid, secret string, hc *http.Client) *sdk {
	c := &sdk{tb: tb, endpoint: strings.TrimSuffix(endpoint, "/"), secret: secret, headers: map[string]string{}, http: hc}
	if c.http == nil {
		c.http = http.DefaultClient
	}
	c.set("systemid", systemid)
	// ddMMyyyy'T'HHmmss'+'SSSS, set once: a long-lived client's is stale.
	now := time.Date(2026, 12, 2, 5, 45, 35, 481e6, time.UTC)
	c.set("timestamp", now.Format("02012006T150405")+"+0"+strconv.Itoa(now.Nanosecond()/1e6))
	c.set("Content-Type", "application/json")
	c.set("version", "3.0.201608")
	return c
}

func (c *sdk) set(k, v string) {
	if _, ok := c.headers[k]; !ok {
		c.order = append(c.order, k)
	}
	c.headers[k] = v
}

// signHeader is the JSON object of the signed headers the map holds.
func (c *sdk) signHeader() string {
	var b strings.Builder
	b.WriteByte('{')
	n := 0
	for _, k := range signedKeys {
		v, ok := c.headers[k]
		if !ok {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		kj, _ := json.Marshal("XroadVnpt-" + k)
		vj, _ := json.Marshal(v)
		b.Write(kj)
		b.WriteByte(':')
		b.Write(vj)
		n++
	}
	b.WriteByte('}')
	return b.String()
}

// hmacHex is the SDK's XroadVnpt-hash-header.
func hmacHex(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// hashFile is the SDK's hash-file: each byte of the SHA-256 in hex,
// without zero padding.
func hashFile(b []byte) string {
	sum := sha256.Sum256(b)
	var s strings.Builder
	for _, c := range sum {
		s.WriteString(strconv.FormatUint(uint64(c), 16))
	}
	return s.String()
}

// reply is the SDK's envelope.
type reply struct {
	Status    string          `json:"status"`
	ErrorCode string          `json:"ErrorCode"`
	ErrorDesc string          `json:"ErrorDesc"`
	DocID     string          `json:"DocId"`
	Count     *int            `json:"count"`
	Data      json.RawMessage `json:"data"`
}

// call makes one request: params join the carried-over map, then every
// key of the map is sent.
func (c *sdk) call(method string, params map[string]string, body io.Reader, contentType string) reply {
	c.tb.Helper()
	for k, v := range params {
		c.set(k, v)
	}
	httpMethod := http.MethodPost
	if strings.HasPrefix(method, "count") {
		httpMethod = http.MethodGet
		body = nil
	}
	req, err := http.NewRequest(httpMethod, c.endpoint+"/"+method, body)
	if err != nil {
		c.tb.Fatal(err)
	}
	for _, k := range c.order {
		// Add, not Set: keys that differ in case only (docId, docid) are
		// two entries of the SDK's map, and both go out.
		req.Header.Add("XroadVnpt-"+k, c.headers[k])
	}
	keys := make([]string, 0, len(signedKeys))
	for _, k := range signedKeys {
		if _, ok := c.headers[k]; ok {
			keys = append(keys, k)
		}
	}
	sign := c.signHeader()
	req.Header.Set("XroadVnpt-sign-header-key", strings.Join(keys, ";"))
	req.Header.Set("XroadVnpt-sign-header", sign)
	req.Header.Set("XroadVnpt-hash-header", hmacHex(c.secret, sign))
	req.Header.Set("User-Agent", "JAVASDKAgent/1.0.0 XRoad/VPCP")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.tb.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.tb.Fatalf("%s: read reply: %v", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		c.tb.Fatalf("%s: HTTP %d, the protocol answers 200 always: %s", method, resp.StatusCode, raw)
	}
	var r reply
	if err := json.Unmarshal(raw, &r); err != nil {
		c.tb.Fatalf("%s: reply is not the JSON envelope: %v: %.300s", method, err, raw)
	}
	if r.Status != "OK" && r.Status != "FAIL" {
		c.tb.Fatalf("%s: status %q: %s", method, r.Status, raw)
	}
	return r
}

// sendEdoc sends a packet as the SDK does.
func (c *sdk) sendEdoc(from, messageType string, packet []byte) reply {
	c.tb.Helper()
	return c.call("sendEdoc", map[string]string{"from": from, "servicetype": "eDoc", "messagetype": messageType, "hash-file": hashFile(packet)},
		bytes.NewReader(packet), "application/octet-stream")
}

// list is getReceivedEdocList.
func (c *sdk) list(messageType string) []listItem {
	c.tb.Helper()
	r := c.call("getReceivedEdocList", map[string]string{"servicetype": "eDoc", "messagetype": messageType}, nil, "")
	if r.Status != "OK" {
		c.tb.Fatalf("getReceivedEdocList: %s %s", r.ErrorCode, r.ErrorDesc)
	}
	var items []listItem
	if err := json.Unmarshal(r.Data, &items); err != nil {
		c.tb.Fatalf("getReceivedEdocList data: %v: %s", err, r.Data)
	}
	return items
}

// get is getEdoc: the packet's bytes.
func (c *sdk) get(docID string) []byte {
	c.tb.Helper()
	r := c.call("getEdoc", map[string]string{"docId": docID, "filePath": "/opt/sdk/inbox"}, strings.NewReader("{}"), "application/json")
	if r.Status != "OK" {
		c.tb.Fatalf("getEdoc %s: %s %s", docID, r.ErrorCode, r.ErrorDesc)
	}
	var b64 string
	if err := json.Unmarshal(r.Data, &b64); err != nil {
		c.tb.Fatalf("getEdoc data: %v", err)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		c.tb.Fatalf("getEdoc data is not base64: %v", err)
	}
	return b
}

// update is updateStatus.
func (c *sdk) update(docID, status string) reply {
	c.tb.Helper()
	return c.call("updateStatus", map[string]string{"docId": docID, "status": status}, nil, "")
}

type listItem struct {
	DocID       string `json:"docId"`
	From        string `json:"from"`
	To          string `json:"to"`
	Status      string `json:"status"`
	StatusDesc  string `json:"status_desc"`
	ServiceType string `json:"serviceType"`
	MessageType string `json:"messageType"`
	Created     string `json:"created_time"`
	Updated     string `json:"updated_time"`
}

// TestSDKSignatureExample: the HMAC of docs/vxp.md's example, as the SDK
// computes it, and the unpadded hash-file.
func TestSDKSignatureExample(t *testing.T) {
	sign := `{"XroadVnpt-systemid":"sys.a","XroadVnpt-timestamp":"02122026T054535+0551","XroadVnpt-Content-Type":"application/json"}`
	if got, want := hmacHex("SECRET-A", sign), "33d2bf1bde11431662484d768f42a607e5283ee8f363f4372c04659510057208"; got != want {
		t.Errorf("HMAC %s, want %s", got, want)
	}
	// A digest with bytes below 0x10 loses their leading zeros.
	for i := 0; ; i++ {
		b := []byte(strconv.Itoa(i))
		sum := sha256.Sum256(b)
		if sum[0] < 0x10 {
			if h := hashFile(b); len(h) >= 64 || !strings.HasPrefix(h, strconv.FormatUint(uint64(sum[0]), 16)) {
				t.Errorf("hash-file of %q: %s, want it unpadded", b, h)
			}
			break
		}
	}
}
