package gqlwire

// DocumentStats are what Scan measures of a GraphQL document without
// parsing it.
type DocumentStats struct {
	// Tokens counts lexical tokens: names, numbers, strings, block strings
	// and punctuators. Whitespace, commas and comments are not tokens.
	Tokens int
	// Depth is the deepest nesting of selection sets within any one
	// operation or fragment definition: { a { b } } is 2. Inline fragments
	// add no level, fragment spreads are not followed, and braces of
	// argument values (inside parentheses) are not selection sets. For a
	// valid document the measure of the parsed operation that runs, with
	// fragments expanded where they are spread, is never smaller (every
	// fragment holds a field); other operations of the document count too.
	Depth int
}

// Scan measures doc in one pass over its bytes, allocating nothing for
// documents nested up to 1024 levels (ScanWithin stops at limits). It tokenises as graphql-go-tools'
// lexer does (strings, block strings and comments included), so that a
// document the parser accepts is measured exactly; it never fails: a
// document that does not parse is measured as far as it goes and left to
// the parser to refuse. A hostile document (a megabyte of "{a{a{a…")
// costs a few milliseconds here, where building its syntax tree costs
// seconds and hundreds of megabytes.
func Scan(doc string) DocumentStats {
	st, _ := ScanWithin(doc, -1, -1)
	return st
}

// ScanWithin is Scan that stops as soon as the depth is over maxDepth or
// the tokens over maxTokens (over is then true, and the stats are how far
// it got); a negative limit is no limit. A refused megabyte costs
// microseconds.
func ScanWithin(doc string, maxDepth, maxTokens int) (st DocumentStats, over bool) {
	if maxDepth < 0 {
		maxDepth = len(doc) + 1
	}
	if maxTokens < 0 {
		maxTokens = len(doc) + 1
	}
	var (
		depth  int // selection sets open now, inline fragments not counted
		open   int // braces open now outside parentheses
		parens int
		// frag follows the tokens after "..." that make an inline fragment
		// (see fragState), so that its brace adds no level.
		frag fragState
		// inline has bit i set when the brace open at level i belongs to
		// an inline fragment; small keeps it off the heap.
		small  [16]uint64
		inline = small[:]
	)
	n := len(doc)
	for i := 0; i < n; {
		if st.Depth > maxDepth || st.Tokens > maxTokens {
			return st, true
		}
		c := doc[i]
		i++
		switch c {
		case 0:
			i = n // the lexer reads a NUL byte as the end of the document
			continue
		case ' ', '\t', '\r', '\n', ',':
			continue
		case '#':
			// A comment runs to the end of its line; it is not a token.
			for i < n {
				c := doc[i]
				i++
				if c == 0 || c == '\n' || c == '\r' {
					break
				}
			}
			continue
		case '"':
			if i+1 < n && doc[i] == '"' && doc[i+1] == '"' {
				i = skipBlockString(doc, i+2)
			} else {
				i = skipString(doc, i)
			}
		case '.':
			if i+1 < n && doc[i] == '.' && doc[i+1] == '.' {
				i += 2
				st.Tokens++
				frag = fragSpread
				continue
			}
		case '(':
			parens++
			if parens == 1 && frag != fragArgs {
				frag = fragNone
			}
			st.Tokens++
			continue // arguments leave frag as it is
		case ')':
			parens--
			if parens == 0 && frag == fragArgs {
				frag = fragDirectives
			}
			st.Tokens++
			continue
		case '{':
			if parens > 0 {
				break // an input object value
			}
			isInline := frag == fragSpread || frag == fragDirectives || frag == fragArgs
			if open/64 >= len(inline) {
				inline = append(inline, 0)
			}
			if isInline {
				inline[open/64] |= 1 << (open % 64)
			} else {
				inline[open/64] &^= 1 << (open % 64)
				depth++
				st.Depth = max(st.Depth, depth)
			}
			open++
		case '}':
			if parens > 0 || open == 0 {
				break
			}
			open--
			if inline[open/64]&(1<<(open%64)) == 0 {
				depth--
			}
		case '@':
			if parens == 0 {
				if frag == fragSpread || frag == fragDirectives || frag == fragArgs {
					st.Tokens++
					frag = fragDirectiveName
					continue
				}
			}
		case '|', '=', ':', '!', '[', ']', '&', '-', '$':
		default:
			if c >= '0' && c <= '9' {
				i = skipNumber(doc, i)
				break
			}
			// Anything else starts a name (the lexer reads an unknown
			// byte as a one-byte name, which the parser then refuses).
			start := i - 1
			for i < n && isNameByte(doc[i]) {
				i++
			}
			if parens == 0 {
				next := fragNone
				switch {
				case frag == fragSpread && doc[start:i] == "on":
					next = fragOn
				case frag == fragOn:
					next = fragDirectives // the type condition
				case frag == fragDirectiveName:
					next = fragArgs
				}
				if next != fragNone {
					st.Tokens++
					frag = next
					continue
				}
			}
		}
		st.Tokens++
		if parens == 0 {
			frag = fragNone
		}
	}
	return st, st.Depth > maxDepth || st.Tokens > maxTokens
}

// fragState follows what may come between "..." and the brace of an
// inline fragment as the parser reads it: "on" and a type name, then
// directives with their arguments. Any other token ends it: "...Name" is a
// fragment spread, and the parser ends an inline fragment whose selection
// set does not follow ("... @a x { }" selects x { }).
type fragState uint8

const (
	fragNone          fragState = iota
	fragSpread                  // after "..."
	fragOn                      // after "... on": the type name comes
	fragDirectives              // a directive or the brace comes
	fragDirectiveName           // after "@"
	fragArgs                    // after a directive's name: arguments, another directive or the brace
)

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// skipString skips a single-line string whose opening quote is before i;
// like the lexer, it ends at an unescaped quote or line end (or a NUL).
func skipString(doc string, i int) int {
	escaped := false
	for i < len(doc) {
		c := doc[i]
		i++
		switch c {
		case 0:
			return i
		case '"', '\r', '\n':
			if !escaped {
				return i
			}
			escaped = false
		case '\\':
			escaped = !escaped
		default:
			escaped = false
		}
	}
	return i
}

// skipBlockString skips a block string whose opening """ is before i; it
// ends at three quotes in a row, an escaped quote (\") not counting.
func skipBlockString(doc string, i int) int {
	escaped := false
	quotes := 0
	for i < len(doc) {
		c := doc[i]
		i++
		switch c {
		case 0:
			return i
		case '"':
			if escaped {
				escaped = false
				continue
			}
			quotes++
			if quotes == 3 {
				return i
			}
		case '\\':
			escaped = !escaped
			quotes = 0
		default:
			escaped = false
			quotes = 0
		}
	}
	return i
}

// skipNumber skips the rest of a number whose first digit is before i.
func skipNumber(doc string, i int) int {
	digits := func() {
		for i < len(doc) && doc[i] >= '0' && doc[i] <= '9' {
			i++
		}
	}
	digits()
	if i >= len(doc) {
		return i
	}
	switch doc[i] {
	case 'e', 'E':
		i++
		digits()
	case '.':
		i++
		digits()
		if i < len(doc) && (doc[i] == 'e' || doc[i] == 'E') {
			i++
		}
		if i < len(doc) && (doc[i] == '-' || doc[i] == '+') {
			i++
		}
		digits()
	}
	return i
}
