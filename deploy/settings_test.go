package deploy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// settingsOf returns the HUSH_* variables the binary services/<app> reads:
// the conf tags of the structs in its main.go, and of the shared structs
// of internal/platform/connect it embeds (connect.NATSSettings, …), as
// internal/platform/config reads them.
func settingsOf(t *testing.T, root, app string) map[string]bool {
	t.Helper()
	shared := map[string]*ast.StructType{}
	files, err := filepath.Glob(filepath.Join(root, "internal", "platform", "connect", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("internal/platform/connect: %v (%d files)", err, len(files))
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					shared[ts.Name.Name] = st
				}
			}
			return true
		})
	}
	main, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, "services", app, "main.go"), nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	var add func(st *ast.StructType)
	add = func(st *ast.StructType) {
		for _, f := range st.Fields.List {
			tag := ""
			if f.Tag != nil {
				tag, _ = strconv.Unquote(f.Tag.Value)
			}
			if name := reflect.StructTag(tag).Get("conf"); name != "" {
				known["HUSH_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))] = true
				continue
			}
			if sel, ok := f.Type.(*ast.SelectorExpr); ok && len(f.Names) == 0 {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "connect" && shared[sel.Sel.Name] != nil {
					add(shared[sel.Sel.Name])
				}
			}
		}
	}
	ast.Inspect(main, func(n ast.Node) bool {
		if st, ok := n.(*ast.StructType); ok {
			add(st)
			return false
		}
		return true
	})
	return known
}
