package prompts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadSetGenEval(t *testing.T) {
	// Two lines in the shape of Flow-GRPO's dataset/geneval/test_metadata.jsonl, CRLF and a
	// blank line between.
	body := `{"tag": "single_object", "include": [{"class": "bench", "count": 1}], "prompt": "a photo of a bench"}` + "\r\n\r\n" +
		`{"tag": "color_attr", "include": [{"class": "car", "count": 1, "color": "red"}], "exclude": [], "prompt": "a photo of a red car"}` + "\n"
	ps, err := ReadSet(writeFile(t, "test_metadata.jsonl", body))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Text != "a photo of a bench" || ps[1].Text != "a photo of a red car" {
		t.Fatalf("prompts %+v", ps)
	}
	var meta struct {
		Tag     string `json:"tag"`
		Include []struct {
			Class string `json:"class"`
			Color string `json:"color"`
		} `json:"include"`
	}
	if err := json.Unmarshal(ps[1].Metadata, &meta); err != nil || meta.Tag != "color_attr" || meta.Include[0].Color != "red" {
		t.Fatalf("metadata %s: %+v %v", ps[1].Metadata, meta, err)
	}
}

func TestReadSetText(t *testing.T) {
	ps, err := ReadSet(writeFile(t, "train.txt", "\xef\xbb\xbfA sign that says \"Hello\"\n\n  a cat  \r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := Texts(ps); len(got) != 2 || got[0] != `A sign that says "Hello"` || got[1] != "a cat" || ps[0].Metadata != nil {
		t.Fatalf("prompts %q", got)
	}
}

func TestReadSetErrors(t *testing.T) {
	for _, c := range []struct{ name, body, want string }{
		{"a.jsonl", "{\"prompt\": \"ok\"}\n{\"prompt\": \"x\",}\n", "a.jsonl:2: not a JSON object"},
		{"b.jsonl", "{\"prompt\": \"ok\"}\n\n{\"tag\": \"x\"}\n", "b.jsonl:3: the object has no \"prompt\" key"},
		{"c.jsonl", "[1, 2]\n", "c.jsonl:1: not a JSON object"},
		{"d.jsonl", "{\"prompt\": 3}\n", "d.jsonl:1: \"prompt\" is not a string"},
		{"e.txt", "fine\nbad \xff byte\n", "e.txt:2: not valid UTF-8"},
		{"f.txt", "\n \n", "no prompts"},
		{"g.csv", "a\n", "unknown extension \".csv\""},
	} {
		_, err := ReadSet(writeFile(t, c.name, c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
}
