package prompts

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Prompt sets in the formats Flow-GRPO ships:
//
//	dataset/geneval/{train,test}_metadata.jsonl  one JSON object per line with "prompt" (and
//	                                             "tag", "include", "exclude", …: GenEval's
//	                                             checks, kept verbatim as Metadata)
//	dataset/ocr/*.txt, dataset/pickscore/*.txt   one prompt per line
//
// Blank lines are skipped in both. Anything else (bad JSON, no "prompt" string, invalid UTF-8)
// is an error naming the file and line.

// Prompt is one prompt of a set. Metadata is the whole JSON object of a .jsonl line (nil for a
// .txt line); it travels to remote rewards with every image drawn for the prompt.
type Prompt struct {
	Text     string
	Metadata json.RawMessage
}

// maxLine bounds one line of a prompt file (GenEval's longest is far below).
const maxLine = 1 << 20

// ReadSet reads a prompt file: .jsonl (or .json lines) or .txt.
func ReadSet(path string) ([]Prompt, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("prompt file: %w", err)
	}
	jsonl := false
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl":
		jsonl = true
	case ".txt":
	default:
		return nil, fmt.Errorf("prompt file %s: unknown extension %q (want .txt: one prompt per line, or .jsonl: one JSON object with a \"prompt\" per line)", path, filepath.Ext(path))
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var out []Prompt
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // a UTF-8 byte-order mark
		}
		line = bytes.TrimRight(line, "\r")
		if !utf8.Valid(line) {
			return nil, fmt.Errorf("%s:%d: not valid UTF-8", path, n)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if !jsonl {
			out = append(out, Prompt{Text: strings.TrimSpace(string(line))})
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(line, &obj); err != nil {
			return nil, fmt.Errorf("%s:%d: not a JSON object: %v (line: %s)", path, n, err, clip(line))
		}
		var text string
		if raw, ok := obj["prompt"]; !ok {
			return nil, fmt.Errorf("%s:%d: the object has no \"prompt\" key (line: %s)", path, n, clip(line))
		} else if err := json.Unmarshal(raw, &text); err != nil {
			return nil, fmt.Errorf("%s:%d: \"prompt\" is not a string (line: %s)", path, n, clip(line))
		}
		out = append(out, Prompt{Text: text, Metadata: json.RawMessage(bytes.Clone(bytes.TrimSpace(line)))})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("prompt file %s: %v", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("prompt file %s: no prompts", path)
	}
	return out, nil
}

func clip(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}

// Texts returns the prompts' texts.
func Texts(ps []Prompt) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Text
	}
	return out
}
