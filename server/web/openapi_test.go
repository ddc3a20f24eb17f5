package web

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestOpenAPI keeps openapi.json in step with the routes: every /api/v1
// route that addRoutes registers in web.go is documented with its method,
// every documented operation is still registered, and every $ref in the
// document resolves.
func TestOpenAPI(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi.json: \"openapi\" is %q, want 3.1.x", v)
	}

	src, err := os.ReadFile("web.go")
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{} // "GET /api/v1/devices"
	for _, m := range regexp.MustCompile(`mux\.Handle\("(GET|POST|PUT|PATCH|DELETE) (/api/v1/[^"]+)"`).FindAllStringSubmatch(string(src), -1) {
		registered[m[1]+" "+m[2]] = true
	}
	if len(registered) == 0 {
		t.Fatal("found no /api/v1 routes in web.go: has addRoutes changed shape?")
	}

	paths, _ := doc["paths"].(map[string]any)
	documented := map[string]bool{}
	for path, item := range paths {
		ops, _ := item.(map[string]any)
		for method, op := range ops {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
			default:
				continue // parameters, summary, ...
			}
			route := strings.ToUpper(method) + " " + path
			documented[route] = true
			o, _ := op.(map[string]any)
			for _, field := range []string{"summary", "description"} {
				if s, _ := o[field].(string); s == "" {
					t.Errorf("openapi.json: %s has no %s", route, field)
				}
			}
			if r, _ := o["responses"].(map[string]any); len(r) == 0 {
				t.Errorf("openapi.json: %s has no responses", route)
			}
			declared := pathParams(doc, item, o)
			for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("openapi.json: %s does not declare its path parameter %q", route, m[1])
				}
			}
		}
	}
	for _, route := range sortedKeys(registered) {
		if !documented[route] {
			t.Errorf("route %s is registered in web.go but missing from openapi.json", route)
		}
	}
	for _, route := range sortedKeys(documented) {
		if !registered[route] {
			t.Errorf("openapi.json documents %s, which web.go no longer registers", route)
		}
	}

	walkRefs(doc, "#", func(at, ref string) {
		if !strings.HasPrefix(ref, "#/") {
			t.Errorf("openapi.json: %s: $ref %q is not within the document", at, ref)
			return
		}
		if _, ok := resolvePointer(doc, ref); !ok {
			t.Errorf("openapi.json: %s: $ref %q does not resolve", at, ref)
		}
	})
}

// pathParams returns the names of the path parameters declared for an
// operation, on it or on its path item, following $refs.
func pathParams(doc map[string]any, item any, op map[string]any) map[string]bool {
	out := map[string]bool{}
	for _, holder := range []any{item, op} {
		h, _ := holder.(map[string]any)
		list, _ := h["parameters"].([]any)
		for _, p := range list {
			pm, _ := p.(map[string]any)
			if ref, ok := pm["$ref"].(string); ok {
				r, _ := resolvePointer(doc, ref)
				pm, _ = r.(map[string]any)
			}
			if pm["in"] == "path" {
				name, _ := pm["name"].(string)
				out[name] = true
			}
		}
	}
	return out
}

// walkRefs calls f with the location and value of every "$ref" under v.
func walkRefs(v any, at string, f func(at, ref string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if ref, ok := child.(string); ok && k == "$ref" {
				f(at, ref)
				continue
			}
			walkRefs(child, at+"/"+escapePointer(k), f)
		}
	case []any:
		for i, child := range v {
			walkRefs(child, at+"/"+strconv.Itoa(i), f)
		}
	}
}

// resolvePointer follows a local JSON pointer such as
// "#/components/schemas/Loan" (RFC 6901).
func resolvePointer(doc any, ref string) (any, bool) {
	cur := doc
	rest := strings.TrimPrefix(ref, "#")
	if rest == "" {
		return cur, true
	}
	for _, tok := range strings.Split(strings.TrimPrefix(rest, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
