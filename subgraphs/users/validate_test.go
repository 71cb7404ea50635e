package users

import (
	"net/mail"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/nyaruka/phonenumbers"

	"github.com/heraldhq/herald/internal/apperr"
	"github.com/heraldhq/herald/subgraphs/users/model"
)

func ptr(s string) *string { return &s }

// opt is a present optional string input.
func opt(s string) graphql.Omittable[*string] { return graphql.OmittableOf(&s) }

func TestValidateRegistration(t *testing.T) {
	tests := []struct {
		name      string
		in        model.RegisterUserInput
		want      Registration
		wantField string // "" means valid
	}{
		{
			name: "trims and lower-cases",
			in:   model.RegisterUserInput{Name: "  Ada Lovelace\t", Email: " Ada@Example.COM ", Phone: opt(" +1 (650) 253-0000 ")},
			want: Registration{Name: "Ada Lovelace", Email: "ada@example.com", Phone: ptr("+16502530000")},
		},
		{
			name: "no phone",
			in:   model.RegisterUserInput{Name: "Grace", Email: "grace@example.org"},
			want: Registration{Name: "Grace", Email: "grace@example.org"},
		},
		{
			name: "blank phone means none",
			in:   model.RegisterUserInput{Name: "Grace", Email: "grace@example.org", Phone: opt("   ")},
			want: Registration{Name: "Grace", Email: "grace@example.org"},
		},
		{
			name: "internationalised domain and joiner in name",
			in:   model.RegisterUserInput{Name: "می\u200cخواهم", Email: "jo@bücher.example"},
			want: Registration{Name: "می\u200cخواهم", Email: "jo@bücher.example"},
		},
		{
			name: "german mobile",
			in:   model.RegisterUserInput{Name: "Émile", Email: "e@example.de", Phone: opt("+49 151 23456789")},
			want: Registration{Name: "Émile", Email: "e@example.de", Phone: ptr("+4915123456789")},
		},
		{
			name: "name of exactly the limit in multi-byte characters",
			in:   model.RegisterUserInput{Name: strings.Repeat("é", MaxNameRunes), Email: "x@example.com"},
			want: Registration{Name: strings.Repeat("é", MaxNameRunes), Email: "x@example.com"},
		},
		{name: "empty name", in: model.RegisterUserInput{Name: "", Email: "a@example.com"}, wantField: "input.name"},
		{name: "blank name", in: model.RegisterUserInput{Name: " \t\n", Email: "a@example.com"}, wantField: "input.name"},
		{name: "long name", in: model.RegisterUserInput{Name: strings.Repeat("a", MaxNameRunes+1), Email: "a@example.com"}, wantField: "input.name"},
		{name: "newline in name", in: model.RegisterUserInput{Name: "Ada\nBcc: x", Email: "a@example.com"}, wantField: "input.name"},
		{name: "invalid utf-8 name", in: model.RegisterUserInput{Name: "Ada\xff", Email: "a@example.com"}, wantField: "input.name"},
		{name: "name checked before email", in: model.RegisterUserInput{Name: "", Email: "nope"}, wantField: "input.name"},
		{name: "empty email", in: model.RegisterUserInput{Name: "Ada", Email: " "}, wantField: "input.email"},
		{name: "no at sign", in: model.RegisterUserInput{Name: "Ada", Email: "ada.example.com"}, wantField: "input.email"},
		{name: "display name", in: model.RegisterUserInput{Name: "Ada", Email: "Ada <ada@example.com>"}, wantField: "input.email"},
		{name: "angle brackets", in: model.RegisterUserInput{Name: "Ada", Email: "<ada@example.com>"}, wantField: "input.email"},
		{name: "comment", in: model.RegisterUserInput{Name: "Ada", Email: "ada@example.com (work)"}, wantField: "input.email"},
		{name: "two addresses", in: model.RegisterUserInput{Name: "Ada", Email: "a@example.com, b@example.com"}, wantField: "input.email"},
		{name: "long email", in: model.RegisterUserInput{Name: "Ada", Email: strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com"}, wantField: "input.email"},
		{name: "domain without a dot", in: model.RegisterUserInput{Name: "Ada", Email: "a@b"}, wantField: "input.email"},
		{name: "localhost domain", in: model.RegisterUserInput{Name: "Ada", Email: "a@localhost"}, wantField: "input.email"},
		{name: "address literal", in: model.RegisterUserInput{Name: "Eve", Email: "eve@[127.0.0.1]"}, wantField: "input.email"},
		{name: "IPv6 address literal", in: model.RegisterUserInput{Name: "Eve", Email: "eve@[IPv6:::1]"}, wantField: "input.email"},
		{name: "dotted numeric domain", in: model.RegisterUserInput{Name: "Eve", Email: "eve@127.0.0.1"}, wantField: "input.email"},
		{name: "empty label", in: model.RegisterUserInput{Name: "Eve", Email: "eve@example..com"}, wantField: "input.email"},
		{name: "hyphen-edged label", in: model.RegisterUserInput{Name: "Eve", Email: "eve@-example.com"}, wantField: "input.email"},
		{name: "bidi override in name", in: model.RegisterUserInput{Name: "Eve \u202egpj.exe", Email: "a@example.com"}, wantField: "input.name"},
		{name: "bidi isolate in name", in: model.RegisterUserInput{Name: "Eve \u2067x\u2069", Email: "a@example.com"}, wantField: "input.name"},
		{name: "line separator in name", in: model.RegisterUserInput{Name: "Ada Bcc: x", Email: "a@example.com"}, wantField: "input.name"},
		{name: "paragraph separator in name", in: model.RegisterUserInput{Name: "Ada x", Email: "a@example.com"}, wantField: "input.name"},
		{name: "phone without country code", in: model.RegisterUserInput{Name: "Ada", Email: "a@example.com", Phone: opt("650 253 0000")}, wantField: "input.phone"},
		{name: "phone letters only", in: model.RegisterUserInput{Name: "Ada", Email: "a@example.com", Phone: opt("+call me")}, wantField: "input.phone"},
		{name: "phone too short", in: model.RegisterUserInput{Name: "Ada", Email: "a@example.com", Phone: opt("+1 555")}, wantField: "input.phone"},
		{name: "phone unknown country code", in: model.RegisterUserInput{Name: "Ada", Email: "a@example.com", Phone: opt("+999 1234567")}, wantField: "input.phone"},
		{name: "phone with extension", in: model.RegisterUserInput{Name: "Ada", Email: "a@example.com", Phone: opt("+1 650 253 0000 ext. 12")}, wantField: "input.phone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateRegistration(tt.in)
			if tt.wantField != "" {
				ae, ok := apperr.As(err)
				if !ok || ae.Code != apperr.BadUserInput || ae.Field != tt.wantField {
					t.Fatalf("ValidateRegistration() error = %v, want BAD_USER_INPUT on %s", err, tt.wantField)
				}
				return
			}
			if err != nil {
				t.Fatalf("ValidateRegistration() error = %v", err)
			}
			if got.Name != tt.want.Name || got.Email != tt.want.Email || deref(got.Phone) != deref(tt.want.Phone) || (got.Phone == nil) != (tt.want.Phone == nil) {
				t.Fatalf("ValidateRegistration() = %+v (phone %q), want %+v (phone %q)", got, deref(got.Phone), tt.want, deref(tt.want.Phone))
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// FuzzValidateRegistration checks the validators' promises on any input:
// they never panic, refusals are BAD_USER_INPUT naming an input field, and
// what they accept is normalised (valid by the rules the database and the
// channels rely on, and unchanged by a second pass). Seeds live in
// testdata/fuzz/FuzzValidateRegistration.
func FuzzValidateRegistration(f *testing.F) {
	f.Fuzz(func(t *testing.T, name, email, phone string, hasPhone bool) {
		in := model.RegisterUserInput{Name: name, Email: email}
		if hasPhone {
			in.Phone = graphql.OmittableOf(&phone)
		}
		reg, err := ValidateRegistration(in)
		if err != nil {
			ae, ok := apperr.As(err)
			if !ok || ae.Code != apperr.BadUserInput {
				t.Fatalf("error %v is not BAD_USER_INPUT", err)
			}
			switch ae.Field {
			case "input.name", "input.email", "input.phone":
			default:
				t.Fatalf("error names field %q", ae.Field)
			}
			return
		}

		if reg.Name == "" || reg.Name != strings.TrimSpace(reg.Name) || !utf8.ValidString(reg.Name) ||
			utf8.RuneCountInString(reg.Name) > MaxNameRunes {
			t.Fatalf("accepted name %q", reg.Name)
		}
		if reg.Email != strings.ToLower(reg.Email) || len(reg.Email) > MaxEmailBytes {
			t.Fatalf("accepted email %q", reg.Email)
		}
		if addr, err := mail.ParseAddress(reg.Email); err != nil || addr.Name != "" || addr.Address != reg.Email {
			t.Fatalf("accepted email %q does not parse back as a bare address: %v", reg.Email, err)
		}
		if reg.Phone != nil {
			p := *reg.Phone
			if !strings.HasPrefix(p, "+") || len(p) > 16 {
				t.Fatalf("accepted phone %q is not E.164", p)
			}
			for _, c := range p[1:] {
				if c < '0' || c > '9' {
					t.Fatalf("accepted phone %q is not E.164", p)
				}
			}
			num, err := phonenumbers.Parse(p, "")
			if err != nil || !phonenumbers.IsValidNumber(num) {
				t.Fatalf("accepted phone %q does not parse back: %v", p, err)
			}
		}

		again, err := ValidateRegistration(model.RegisterUserInput{Name: reg.Name, Email: reg.Email, Phone: graphql.OmittableOf(reg.Phone)})
		if err != nil {
			t.Fatalf("normalised input %+v refused: %v", reg, err)
		}
		if again.Name != reg.Name || again.Email != reg.Email || deref(again.Phone) != deref(reg.Phone) {
			t.Fatalf("second pass changed %+v into %+v", reg, again)
		}
	})
}
