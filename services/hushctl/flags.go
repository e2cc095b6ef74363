package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/hush-oss/hush/internal/platform/config"
)

// parse splits args into positional arguments and flags (in any order),
// gives each settings struct the flags it declares, and returns the
// positional arguments. Only the first struct (the connection settings
// shared with the services) reads HUSH_* environment variables; a
// command's own flags come from the command line alone.
func parse(args []string, getenv func(string) string, out io.Writer, usage string, cfgs ...any) ([]string, error) {
	perCfg := make([][]string, len(cfgs))
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "h" || name == "help" {
			io.WriteString(out, usage)
			for _, c := range cfgs[1:] {
				io.WriteString(out, "\n"+flagUsage(c))
			}
			io.WriteString(out, "\nConnection s"+strings.TrimPrefix(config.Usage("HUSH", cfgs[0]), "S"))
			return nil, config.ErrHelp
		}
		owner, isBool := -1, false
		for j, c := range cfgs {
			if f, ok := confField(c, name); ok {
				owner, isBool = j, f.Kind() == reflect.Bool
				break
			}
		}
		if owner < 0 {
			return nil, fmt.Errorf("unknown flag --%s (see --help)", name)
		}
		if !hasValue && !isBool {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag --%s needs a value (see --help)", name)
			}
			i++
			value, hasValue = args[i], true
		}
		if hasValue {
			perCfg[owner] = append(perCfg[owner], "--"+name+"="+value)
		} else {
			perCfg[owner] = append(perCfg[owner], "--"+name)
		}
	}
	noEnv := func(string) string { return "" }
	for j, c := range cfgs {
		env := getenv
		if j > 0 {
			env = noEnv
		}
		if err := config.Parse("HUSH", c, perCfg[j], env, out); err != nil {
			if errors.Is(err, config.ErrHelp) {
				return nil, err
			}
			return nil, err
		}
	}
	return pos, nil
}

// confField finds the field of cfg (a pointer to a struct) whose conf tag
// is name, looking into embedded structs as the config package does.
func confField(cfg any, name string) (reflect.Value, bool) {
	return structField(reflect.ValueOf(cfg).Elem(), name)
}

func structField(rv reflect.Value, name string) (reflect.Value, bool) {
	for i := range rv.NumField() {
		sf := rv.Type().Field(i)
		tag := sf.Tag.Get("conf")
		if tag == name {
			return rv.Field(i), true
		}
		if sf.Anonymous && tag == "" && sf.Type.Kind() == reflect.Struct {
			if v, ok := structField(rv.Field(i), name); ok {
				return v, true
			}
		}
	}
	return reflect.Value{}, false
}

// flagUsage lists a command's own flags (command line only).
func flagUsage(cfg any) string {
	var b strings.Builder
	b.WriteString("Flags:\n")
	rt := reflect.TypeOf(cfg).Elem()
	for i := range rt.NumField() {
		f := rt.Field(i)
		name := f.Tag.Get("conf")
		if name == "" {
			continue
		}
		def := ""
		if d := f.Tag.Get("default"); d != "" {
			def = " (default " + d + ")"
		}
		fmt.Fprintf(&b, "  --%s%s\n        %s\n", name, def, f.Tag.Get("help"))
	}
	return b.String()
}
