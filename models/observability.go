package models

import (
	"context"
	"database/sql"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"

	"github.com/twofoldauth/twofold/mfa"
)

// OutboxPending counts the notifications waiting to be sent (the outbox
// depth), on ix_outbox_due.
func (s *Store) OutboxPending(ctx context.Context) (int64, error) {
	var n int64
	err := s.conn(ctx).Model(&outboxRow{}).Where("status = ?", string(mfa.NotificationPending)).Count(&n).Error
	return n, translate(err)
}

// SQLDB is the connection pool under the store (for its statistics).
func (s *Store) SQLDB() (*sql.DB, error) { return s.db.DB() }

// tracingName names the store's tracer (the instrumentation scope).
const tracingName = "github.com/twofoldauth/twofold/models"

// Trace records a client span per SQL statement with tp, as a child of the
// span in the statement's context (statements outside a trace, such as
// the background loops' polling, are not recorded). A span carries the statement with its
// placeholders, never the values bound to them (password hashes, token
// hashes, sealed secrets). Call it once, before the store is used.
//
// gorm.io/plugin/opentelemetry does the same, but its tracing package links
// the ClickHouse and PostgreSQL drivers into the binary and records bound
// values unless told otherwise; these few callbacks are all Twofold needs.
func (s *Store) Trace(tp trace.TracerProvider) error {
	tracer := tp.Tracer(tracingName)
	system := attribute.String("db.system.name", s.db.Dialector.Name())
	before := func(tx *gorm.DB) {
		// Only statements of a traced operation: the background loops
		// (outbox polling, purges) would otherwise make a trace per poll.
		if tx.Statement == nil || tx.Statement.Context == nil || !trace.SpanContextFromContext(tx.Statement.Context).IsValid() {
			return
		}
		ctx, _ := tracer.Start(tx.Statement.Context, "sql", trace.WithSpanKind(trace.SpanKindClient))
		tx.Statement.Context = tracedContext{Context: ctx, parent: tx.Statement.Context}
	}
	after := func(tx *gorm.DB) {
		if tx.Statement == nil {
			return
		}
		traced, ok := tx.Statement.Context.(tracedContext)
		if !ok {
			return
		}
		tx.Statement.Context = traced.parent
		span := trace.SpanFromContext(traced.Context)
		defer span.End()
		if !span.IsRecording() {
			return
		}
		query := tx.Statement.SQL.String()
		op := strings.ToUpper(firstWord(query))
		name := op
		if tx.Statement.Table != "" {
			name += " " + tx.Statement.Table
		}
		span.SetName(name)
		span.SetAttributes(system, attribute.String("db.operation.name", op), attribute.String("db.query.text", query))
		if tx.Statement.Table != "" {
			span.SetAttributes(attribute.String("db.collection.name", tx.Statement.Table))
		}
		if tx.Statement.RowsAffected >= 0 {
			span.SetAttributes(attribute.Int64("db.response.returned_rows", tx.Statement.RowsAffected))
		}
		if err := tx.Error; err != nil && err != gorm.ErrRecordNotFound && err != sql.ErrNoRows {
			span.RecordError(err)
			span.SetStatus(codes.Error, "statement failed")
		}
	}
	const name = "twofold:trace"
	cb := s.db.Callback()
	for _, err := range []error{
		cb.Create().Before("gorm:create").Register(name+"_before", before),
		cb.Create().After("gorm:create").Register(name+"_after", after),
		cb.Query().Before("gorm:query").Register(name+"_before", before),
		cb.Query().After("gorm:query").Register(name+"_after", after),
		cb.Update().Before("gorm:update").Register(name+"_before", before),
		cb.Update().After("gorm:update").Register(name+"_after", after),
		cb.Delete().Before("gorm:delete").Register(name+"_before", before),
		cb.Delete().After("gorm:delete").Register(name+"_after", after),
		cb.Row().Before("gorm:row").Register(name+"_before", before),
		cb.Row().After("gorm:row").Register(name+"_after", after),
		cb.Raw().Before("gorm:raw").Register(name+"_before", before),
		cb.Raw().After("gorm:raw").Register(name+"_after", after),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// tracedContext is a statement's context while its span is open; parent is
// put back when the statement is done, so the next statement of the same
// *gorm.DB is not a child of this one.
type tracedContext struct {
	context.Context
	parent context.Context
}

func firstWord(query string) string {
	query = strings.TrimLeft(query, " \t\r\n(")
	if i := strings.IndexAny(query, " \t\r\n("); i >= 0 {
		return query[:i]
	}
	return query
}
