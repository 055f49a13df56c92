package reward

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRemoteSendsMetadata checks the optional "metadata" list: present, one entry per image
// and verbatim when the prompts have metadata, absent from the request otherwise.
func TestRemoteSendsMetadata(t *testing.T) {
	var bodies []map[string]json.RawMessage
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.Write([]byte(`{"status":"ok"}`))
			return
		}
		data, _ := io.ReadAll(r.Body)
		var body map[string]json.RawMessage
		if err := json.Unmarshal(data, &body); err != nil {
			t.Errorf("request body: %v", err)
		}
		bodies = append(bodies, body)
		var in struct{ Image []string }
		json.Unmarshal(data, &in)
		out := make([]float64, len(in.Image))
		json.NewEncoder(w).Encode(map[string]any{"rewards": out})
	}))
	defer srv.Close()
	m := mustRemote(t, "geneval", srv.URL, fastRetries())
	prompts, imgs := scenes(t)
	prompts, imgs = prompts[:3], imgs[:3]
	meta := []json.RawMessage{json.RawMessage(`{"tag":"single_object","include":[{"class":"bench","count":1}]}`), nil, json.RawMessage(`{"tag":"counting"}`)}
	if _, err := ScoreAllMetadata(m, prompts, meta, imgs); err != nil {
		t.Fatal(err)
	}
	if _, err := ScoreAll(m, prompts, imgs); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 2 {
		t.Fatalf("%d requests", len(bodies))
	}
	var got []json.RawMessage
	if err := json.Unmarshal(bodies[0]["metadata"], &got); err != nil || len(got) != 3 {
		t.Fatalf("metadata %s: %v", bodies[0]["metadata"], err)
	}
	if string(got[0]) != string(meta[0]) || string(got[1]) != "null" || string(got[2]) != string(meta[2]) {
		t.Fatalf("metadata sent %s", bodies[0]["metadata"])
	}
	if _, ok := bodies[1]["metadata"]; ok {
		t.Fatalf("a request without metadata carries the key: %s", bodies[1]["metadata"])
	}
	// A built-in (in-process) reward ignores metadata.
	pref, _ := ByName("pref")
	a, err := ScoreAllMetadata(pref, prompts, meta, imgs)
	b, _ := ScoreAll(pref, prompts, imgs)
	if err != nil || a[0] != b[0] {
		t.Fatalf("in-process reward with metadata: %v %v %v", a, b, err)
	}
	if _, err := ScoreAllMetadata(m, prompts, meta[:2], imgs); err == nil || !strings.Contains(err.Error(), "2 metadata entries for 3 images") {
		t.Fatalf("short metadata: %v", err)
	}
}
