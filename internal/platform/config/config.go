// Package config fills a binary's typed configuration struct from defaults,
// environment variables with one prefix and matching command-line flags, in
// that order of precedence (flags win), and prints it with secrets masked.
//
// A field is configured by its tags:
//
//	NATSURL string `conf:"nats-url" default:"nats://127.0.0.1:4222" help:"NATS server URL"`
//	Token   string `conf:"token" secret:"true" help:"bearer token"`
//
// gives the flag --nats-url and the variable <PREFIX>_NATS_URL. Supported
// field types: string, bool, int, int64, float64, time.Duration.
//
// Settings several binaries share live in one struct that each binary
// embeds (an anonymous field of an exported struct type); its fields are
// settings of the binary as if declared in place. The embedding field may
// give one of them a default or help text of its own with the keys
// default.<name> and help.<name>:
//
//	connect.NATSSettings `default.nats-inbox-prefix:"_HUSH_INBOX.gatekeeper"`
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// ErrHelp is returned by Parse when --help or -h was given; the usage text
// has been written to the output.
var ErrHelp = flag.ErrHelp

type field struct {
	v      reflect.Value
	name   string // flag name
	env    string
	def    string
	help   string
	secret bool
}

// Parse fills cfg (a pointer to a struct) from its defaults, then getenv,
// then args. Usage text goes to out on --help. Errors name the flag or
// variable at fault.
func Parse(prefix string, cfg any, args []string, getenv func(string) string, out io.Writer) error {
	fields, err := fieldsOf(prefix, cfg)
	if err != nil {
		return err
	}
	for _, f := range fields {
		if err := set(f.v, f.def); err != nil {
			return fmt.Errorf("config: default of --%s: %w", f.name, err)
		}
		if v := getenv(f.env); v != "" {
			if err := set(f.v, v); err != nil {
				return fmt.Errorf("config: %s=%q: %w", f.env, mask(f, v), err)
			}
		}
	}
	fs := flag.NewFlagSet(prefix, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range fields {
		if f.v.Kind() == reflect.Bool {
			fs.BoolFunc(f.name, f.help, func(s string) error { return set(f.v, s) })
			continue
		}
		fs.Func(f.name, f.help, func(s string) error { return set(f.v, s) })
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			io.WriteString(out, Usage(prefix, cfg))
			return ErrHelp
		}
		return fmt.Errorf("config: %w (see --help)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("config: unexpected argument %q (see --help)", fs.Arg(0))
	}
	return nil
}

// Usage describes every setting: flag, variable, default and meaning.
func Usage(prefix string, cfg any) string {
	fields, err := fieldsOf(prefix, cfg)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString("Settings (flags override environment variables, which override defaults):\n\n")
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	for _, f := range fields {
		def := f.def
		if f.secret && def != "" {
			def = "***"
		}
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(tw, "  --%s\t$%s\tdefault %s\n\t\t%s\n", f.name, f.env, def, f.help)
	}
	tw.Flush()
	return b.String()
}

// String renders the configuration for a start-up log line: secrets and the
// passwords inside URLs are masked.
func String(prefix string, cfg any) string {
	fields, err := fieldsOf(prefix, cfg)
	if err != nil {
		return err.Error()
	}
	parts := make([]string, 0, len(fields))
	for _, f := range fields {
		parts = append(parts, f.name+"="+mask(f, fmt.Sprint(f.v.Interface())))
	}
	return strings.Join(parts, " ")
}

func mask(f field, v string) string {
	if f.secret {
		if v == "" {
			return ""
		}
		return "***"
	}
	return MaskURL(v)
}

// MaskURL hides the password of a URL ("redis://:s3cret@host" becomes
// "redis://:***@host"); other strings are returned as they are.
func MaskURL(s string) string {
	if !strings.Contains(s, "://") || !strings.Contains(s, "@") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxx")
		return strings.Replace(u.String(), ":xxx@", ":***@", 1)
	}
	return s
}

var durationType = reflect.TypeOf(time.Duration(0))

func fieldsOf(prefix string, cfg any) ([]field, error) {
	rv := reflect.ValueOf(cfg)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return nil, errors.New("config: want a pointer to a struct")
	}
	out, err := structFields(prefix, rv.Elem(), nil)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(out))
	for _, f := range out {
		if seen[f.name] {
			return nil, fmt.Errorf("config: --%s is declared twice", f.name)
		}
		seen[f.name] = true
	}
	return out, nil
}

// structFields lists the settings of rv in declaration order, those of
// embedded structs in place. outer holds the tags of the fields embedding
// rv, innermost first: the outermost override of a default or help wins,
// as the binary that embeds a shared struct has the last word.
func structFields(prefix string, rv reflect.Value, outer []reflect.StructTag) ([]field, error) {
	rt := rv.Type()
	var out []field
	for i := range rt.NumField() {
		sf := rt.Field(i)
		name := sf.Tag.Get("conf")
		if sf.Anonymous && name == "" {
			if sf.Type.Kind() != reflect.Struct {
				if sf.Type.Kind() == reflect.Pointer && sf.Type.Elem().Kind() == reflect.Struct {
					return nil, fmt.Errorf("config: embedded %s: embed the struct, not a pointer", sf.Type)
				}
				continue
			}
			if !sf.IsExported() {
				return nil, fmt.Errorf("config: embedded %s: the type must be exported for its fields to be set", sf.Type)
			}
			inner, err := structFields(prefix, rv.Field(i), append([]reflect.StructTag{sf.Tag}, outer...))
			if err != nil {
				return nil, err
			}
			out = append(out, inner...)
			continue
		}
		if name == "" || !sf.IsExported() {
			continue
		}
		f := field{
			v:      rv.Field(i),
			name:   name,
			env:    prefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")),
			def:    sf.Tag.Get("default"),
			help:   sf.Tag.Get("help"),
			secret: sf.Tag.Get("secret") == "true",
		}
		for _, tag := range outer {
			if def, ok := tag.Lookup("default." + name); ok {
				f.def = def
			}
			if help, ok := tag.Lookup("help." + name); ok {
				f.help = help
			}
		}
		out = append(out, f)
	}
	return out, nil
}

func set(v reflect.Value, s string) error {
	if v.Type() == durationType {
		if s == "" {
			v.SetInt(0)
			return nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a duration like 30s or 5m, got %q", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		if s == "" {
			v.SetBool(false)
			return nil
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		if s == "" {
			v.SetInt(0)
			return nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", s)
		}
		v.SetInt(n)
	case reflect.Float64:
		if s == "" {
			v.SetFloat(0)
			return nil
		}
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("want a number, got %q", s)
		}
		v.SetFloat(n)
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}
