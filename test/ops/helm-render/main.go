// helm-render renders a Helm chart's templates the way Helm's engine (helm.sh/helm/v3/pkg/engine)
// does, for the tests in test/ops: Go's own text/template, the Sprig function library Helm ships
// (github.com/Masterminds/sprig/v3, Debian's golang-github-masterminds-sprig-dev), and Helm's own
// functions re-implemented below as pkg/engine/funcs.go and engine.go define them (include,
// tpl, required, toYaml, fromYaml, toJson, fromJson; env and expandenv removed as in Helm).
// No helm binary and no Go module proxy can be reached from the build machine (ADR 0056).
//
// Input (stdin, JSON): {"templates": {"<chart>/templates/<file>": "<text>", ...},
// "top": {"Values": {...}, "Release": {...}, "Chart": {...}, "Capabilities": {...}},
// "cluster": [<live object>, ...]} - what `lookup` finds (a test's simulated cluster).
// Output (stdout, JSON): {"<chart>/templates/<file>": "<rendered text>", ...} for every template
// whose name does not start with "_". An error exits 1 with Helm's message on stderr.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/ghodss/yaml"
)

// Helm's limit on nested include calls (engine.go recursionMaxNums).
const recursionMaxNums = 1000

type input struct {
	Templates map[string]string        `json:"templates"`
	Top       map[string]interface{}   `json:"top"`
	Cluster   []map[string]interface{} `json:"cluster"`
}

// toYAML, fromYAML, toJSON, fromJSON: pkg/engine/funcs.go. Helm uses sigs.k8s.io/yaml, the
// maintained fork of github.com/ghodss/yaml with the same Marshal/Unmarshal.
func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(str string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(str string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(str), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(str string) map[string]interface{} {
	m := make(map[string]interface{})
	if err := json.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

// lookup: pkg/engine/lookup_func.go's contract. One object (or an empty map) for a name, a List
// of the matching objects for an empty name, answered from the simulated cluster.
func lookup(cluster []map[string]interface{}) func(string, string, string, string) (map[string]interface{}, error) {
	return func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
		items := []interface{}{}
		for _, obj := range cluster {
			meta, _ := obj["metadata"].(map[string]interface{})
			if obj["apiVersion"] != apiVersion || obj["kind"] != kind || meta == nil {
				continue
			}
			if ns, _ := meta["namespace"].(string); namespace != "" && ns != namespace {
				continue
			}
			if name == "" {
				items = append(items, obj)
			} else if meta["name"] == name {
				return obj, nil
			}
		}
		if name == "" {
			return map[string]interface{}{"apiVersion": "v1", "kind": kind + "List", "items": items}, nil
		}
		return map[string]interface{}{}, nil
	}
}

func funcMap(t *template.Template, cluster []map[string]interface{}) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")

	includedNames := make(map[string]int)
	f["include"] = func(name string, data interface{}) (string, error) {
		var buf strings.Builder
		if v, ok := includedNames[name]; ok {
			if v > recursionMaxNums {
				return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
			}
			includedNames[name]++
		} else {
			includedNames[name] = 1
		}
		err := t.ExecuteTemplate(&buf, name, data)
		includedNames[name]--
		return buf.String(), err
	}
	f["tpl"] = func(tpl string, vals interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		if _, err := clone.New("tpl").Parse(tpl); err != nil {
			return "", fmt.Errorf("cannot parse template %q: %w", tpl, err)
		}
		var buf strings.Builder
		if err := clone.ExecuteTemplate(&buf, "tpl", vals); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %w", tpl, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	f["required"] = func(warn string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, errors.New(warn)
		} else if s, ok := val.(string); ok && s == "" {
			return val, errors.New(warn)
		}
		return val, nil
	}
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["fromYamlArray"] = fromYAMLArray
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	// Without a cluster (no "cluster" in the input) this answers as `helm template` does: empty.
	f["lookup"] = lookup(cluster)
	return f
}

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		fmt.Fprintln(os.Stderr, "helm-render: bad input:", err)
		os.Exit(2)
	}

	// engine.go render(): one template set holding every file, missingkey=zero (not --strict).
	t := template.New("gotpl")
	t.Option("missingkey=zero")
	t.Funcs(funcMap(t, in.Cluster))

	names := make([]string, 0, len(in.Templates))
	for name := range in.Templates {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, err := t.New(name).Parse(in.Templates[name]); err != nil {
			fmt.Fprintf(os.Stderr, "parse error at (%s): %v\n", name, err)
			os.Exit(1)
		}
	}

	out := make(map[string]string)
	for _, name := range names {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		vals := make(map[string]interface{}, len(in.Top)+1)
		for k, v := range in.Top {
			vals[k] = v
		}
		vals["Template"] = map[string]interface{}{"Name": name, "BasePath": path.Dir(name)}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, vals); err != nil {
			fmt.Fprintf(os.Stderr, "render error in %q: %v\n", name, err)
			os.Exit(1)
		}
		out[name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
