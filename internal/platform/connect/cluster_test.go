package connect

import (
	"slices"
	"testing"
)

func TestClusterOptions(t *testing.T) {
	tests := []struct {
		name, url string
		addrs     []string
		user, pw  string
		wantErr   bool
	}{
		{name: "comma-separated", url: "redis://a:7000,b:7001,c:7002", addrs: []string{"a:7000", "b:7001", "c:7002"}},
		{name: "cluster scheme", url: "redis+cluster://a:7000,b:7001", addrs: []string{"a:7000", "b:7001"}},
		{name: "one address, cluster scheme", url: "redis+cluster://a:7000", addrs: []string{"a:7000"}},
		{name: "credentials and database 0", url: "redis://u:p@a:7000,b:7001/0", addrs: []string{"a:7000", "b:7001"}, user: "u", pw: "p"},
		{name: "options kept", url: "redis://a:7000,b:7001?dial_timeout=3s", addrs: []string{"a:7000", "b:7001"}},
		{name: "database other than 0", url: "redis://a:7000,b:7001/2", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := clusterOptions(tt.url)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("clusterOptions(%q) = %v, want an error", tt.url, o.Addrs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.Addrs, tt.addrs) || o.Username != tt.user || o.Password != tt.pw {
				t.Errorf("clusterOptions(%q) = addrs %v user %q password %q, want %v %q %q", tt.url, o.Addrs, o.Username, o.Password, tt.addrs, tt.user, tt.pw)
			}
		})
	}
}
