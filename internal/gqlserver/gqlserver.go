// Package gqlserver builds the gqlgen HTTP handler shared by the subgraphs,
// with the single place where Herald errors become GraphQL errors.
package gqlserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/heraldhq/herald/internal/apperr"
)

// UnavailableMessage is what a client reads when a dependency of the
// service (its database, usually) cannot be reached.
const UnavailableMessage = "a dependency is unavailable; try again"

// New returns a handler serving es over GET and POST.
func New(es graphql.ExecutableSchema, logger *slog.Logger) *handler.Server {
	srv := handler.New(es)
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.Use(extension.Introspection{})
	// Hostile input is refused before it costs: the lexer stops at a token
	// budget, the executor at a nesting depth (Limit sets it per server).
	srv.SetParserTokenLimit(DefaultMaxTokens)
	srv.Use(depthLimit{})
	srv.SetErrorPresenter(Presenter(logger))
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		logger.ErrorContext(ctx, "resolver panic", "panic", fmt.Sprint(v))
		return apperr.New(apperr.Internal, "internal error")
	})
	return srv
}

// Presenter maps errors to GraphQL errors with extensions.code. Errors that
// carry an apperr code are shown with their message; everything else is
// logged and replaced by a fixed text: UNAVAILABLE when the cause is an
// unreachable dependency (apperr.Unreachable), INTERNAL otherwise, so
// internals never leak.
func Presenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var ae *apperr.Error
		if errors.As(err, &ae) {
			if ae.Code == apperr.Internal {
				logger.ErrorContext(ctx, "internal error", "err", err.Error())
				gqlErr.Message = "internal error"
			} else {
				gqlErr.Message = ae.Message
			}
			if gqlErr.Extensions == nil {
				gqlErr.Extensions = map[string]any{}
			}
			gqlErr.Extensions["code"] = string(ae.Code)
			if ae.Field != "" {
				gqlErr.Extensions["field"] = ae.Field
			}
			return gqlErr
		}
		var mb *http.MaxBytesError
		if errors.As(err, &mb) || strings.Contains(err.Error(), "http: request body too large") {
			// A chunked body ran over Limit's cap: the caller's fault.
			gqlErr.Message = "request body too large"
			gqlErr.Extensions = map[string]any{"code": "BAD_REQUEST"}
			return gqlErr
		}
		var pe *gqlerror.Error
		if errors.As(err, &pe) && len(pe.Path) > 1 && pe.Path[0] == ast.PathName("variable") {
			return variableError(gqlErr, pe)
		}
		if errors.As(err, &pe) && pe.Extensions != nil && pe.Extensions["code"] != nil {
			// Parse and validation errors already carry a gqlgen code.
			return gqlErr
		}
		if gqlErr.Extensions == nil {
			gqlErr.Extensions = map[string]any{}
		}
		if apperr.Unreachable(err) {
			// A database or another dependency is down or restarting: the
			// same request succeeds once it is back, so say so.
			logger.WarnContext(ctx, "dependency unavailable", "err", err.Error())
			gqlErr.Message = UnavailableMessage
			gqlErr.Extensions["code"] = string(apperr.Unavailable)
			return gqlErr
		}
		logger.ErrorContext(ctx, "internal error", "err", err.Error())
		gqlErr.Message = "internal error"
		gqlErr.Extensions["code"] = string(apperr.Internal)
		return gqlErr
	}
}

// variableError turns gqlparser's coercion error for a variable ("cannot use
// string as Int" at path variable.input.items.0.quantity) into a
// BAD_USER_INPUT naming the field the way Herald's own validation does
// ("input.items[0].quantity") with a message that says what is expected.
func variableError(gqlErr, pe *gqlerror.Error) *gqlerror.Error {
	var field strings.Builder
	name := ""
	for _, p := range pe.Path[1:] {
		switch p := p.(type) {
		case ast.PathIndex:
			fmt.Fprintf(&field, "[%d]", int(p))
		case ast.PathName:
			if field.Len() > 0 {
				field.WriteByte('.')
			}
			field.WriteString(string(p))
			name = string(p)
		}
	}
	msg := pe.Message
	switch {
	case strings.HasSuffix(msg, " as Int"):
		msg = name + " must be a whole number"
	case strings.HasSuffix(msg, " as Float"):
		msg = name + " must be a number"
	case strings.HasSuffix(msg, " as String"):
		msg = name + " must be a string"
	case strings.HasSuffix(msg, " as Boolean"):
		msg = name + " must be true or false"
	case strings.Contains(msg, " as ID"):
		msg = name + " must be an ID (a string)"
	case msg == "cannot be null", msg == "must be defined":
		msg = name + " is required"
	case msg == "unknown field":
		msg = name + " is not a field of this input"
	default:
		msg = name + ": " + msg
	}
	gqlErr.Message = msg
	gqlErr.Path = nil
	gqlErr.Extensions = map[string]any{"code": string(apperr.BadUserInput), "field": field.String()}
	return gqlErr
}
