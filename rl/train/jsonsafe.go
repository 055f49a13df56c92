package train

// JSON that survives non-finite numbers. encoding/json refuses NaN and ±Inf, and a metrics
// record or a summary that cannot be written would end a run that has nothing else wrong; so
// the files of a run are written with marshalJSON, which writes such numbers as null (what a
// JSON reader takes for "no value") and everything else exactly as encoding/json does.

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"sort"
	"strings"
)

// marshalJSON is json.Marshal, with NaN and ±Inf written as null.
func marshalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	var unsupported *json.UnsupportedValueError
	if err == nil || !errors.As(err, &unsupported) {
		return b, err
	}
	return json.Marshal(nullNonFinite(reflect.ValueOf(v)))
}

// marshalJSONIndent is marshalJSON indented as json.MarshalIndent does.
func marshalJSONIndent(v any, prefix, indent string) ([]byte, error) {
	b, err := marshalJSON(v)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, prefix, indent); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// jsonObject is an object whose members keep their order.
type jsonObject []jsonMember

type jsonMember struct {
	key string
	val any
}

func (o jsonObject) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		buf.Write(k)
		buf.WriteByte(':')
		v, err := json.Marshal(m.val)
		if err != nil {
			return nil, err
		}
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// nullNonFinite rebuilds v as values encoding/json writes as it would write v, except that
// non-finite floats become nil. Types that marshal themselves are left to do so.
func nullNonFinite(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	t := v.Type()
	if t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType) {
		return v.Interface()
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		return v.Interface()
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return nullNonFinite(v.Elem())
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return v.Interface()
		}
		fallthrough
	case reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = nullNonFinite(v.Index(i))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		if t.Key().Kind() != reflect.String {
			return v.Interface()
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		out := make(jsonObject, len(keys))
		for i, k := range keys {
			out[i] = jsonMember{k.String(), nullNonFinite(v.MapIndex(k))}
		}
		return out
	case reflect.Struct:
		var out jsonObject
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" && opts == "" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fv := v.Field(i)
			if strings.Contains(","+opts+",", ",omitempty,") && fv.IsZero() {
				continue
			}
			out = append(out, jsonMember{name, nullNonFinite(fv)})
		}
		return out
	}
	return v.Interface()
}
