// Package gqlserver builds the gqlgen HTTP handler shared by the subgraphs,
// with the single place where Herald errors become GraphQL errors.
package gqlserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
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
		var pe *gqlerror.Error
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
