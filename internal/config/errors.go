package config

import (
	"fmt"
	"strconv"
	"strings"
)

// maxShown is how many problems Error.Error prints; Problems holds them all.
const maxShown = 20

// Error is a config file that cannot be used. It lists every problem found, in file order.
type Error struct {
	// File is the file name as the caller gave it.
	File string
	// Problems are what is wrong, sorted by line.
	Problems []Problem
}

// Problem is one thing wrong in a config file.
type Problem struct {
	// Line is the 1-based line of the field, or of the mapping that lacks it; 0 when unknown.
	Line int
	// Field is the path of the field in YAML key names with list indexes, e.g.
	// Servers[0].Users[1].UserName; empty for the file as a whole.
	Field string
	// Message says what is wrong.
	Message string
}

// Error prints one line per problem, FILE:LINE: FIELD: MESSAGE, at most 20 of them.
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		if i == maxShown {
			fmt.Fprintf(&b, "%s: %d more problems not shown", e.File, len(e.Problems)-maxShown)
			break
		}
		b.WriteString(p.format(e.File))
	}
	return b.String()
}

func (p Problem) format(file string) string {
	var b strings.Builder
	switch {
	case p.Line > 0 && file != "":
		b.WriteString(file + ":" + strconv.Itoa(p.Line) + ": ")
	case p.Line > 0:
		b.WriteString("line " + strconv.Itoa(p.Line) + ": ")
	case file != "":
		b.WriteString(file + ": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// String prints the problem as "line LINE: FIELD: MESSAGE".
func (p Problem) String() string { return p.format("") }
