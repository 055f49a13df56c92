package train

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// Records with NaN or ±Inf are written with null in their place; everything else is what
// encoding/json writes.
func TestMarshalJSONWritesNonFiniteAsNull(t *testing.T) {
	rec := trainRecord{Kind: "train", Step: 3, Reward: map[string]float64{"b": math.Inf(1), "a": 0.5},
		RewardTotal: math.NaN(), Loss: 1.25, Terms: map[string]float64{"pg": math.Inf(-1)}, Prompts: []string{"x"}}
	if _, err := json.Marshal(rec); err == nil {
		t.Fatal("encoding/json accepted NaN: the test no longer tests anything")
	}
	got, err := marshalJSON(rec)
	if err != nil {
		t.Fatal(err)
	}
	finite := rec
	finite.Reward = map[string]float64{"b": 0, "a": 0.5}
	finite.RewardTotal = 0
	finite.Terms = map[string]float64{"pg": 0}
	want, _ := json.Marshal(finite)
	// The same text once the zeros that stand for the non-finite values are nulls.
	wantText := string(want)
	// strings.Replace of the first match is enough: each key occurs once.
	for _, r := range []struct{ from, to string }{{`"b":0`, `"b":null`}, {`"reward_total":0`, `"reward_total":null`}, {`"pg":0`, `"pg":null`}} {
		i := strings.Index(wantText, r.from)
		if i < 0 {
			t.Fatalf("%s not in %s", r.from, wantText)
		}
		wantText = wantText[:i] + r.to + wantText[i+len(r.from):]
	}
	if string(got) != wantText {
		t.Fatalf("got  %s\nwant %s", got, wantText)
	}
	// Finite values take the plain path unchanged.
	plain, _ := json.Marshal(finite)
	if b, _ := marshalJSON(finite); string(b) != string(plain) {
		t.Fatalf("finite record changed: %s", b)
	}
}
