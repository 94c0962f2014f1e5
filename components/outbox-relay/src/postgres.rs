//! The [`Outbox`] over PostgreSQL through Spin's `spin:postgres@4`
//! interface: one connection for the whole run (a transaction's statements
//! must share it), the `outbox` table of migrations 0002 and 0004.

use spin_sdk::pg4::{Connection, DbValue, ParameterValue, PgError, QueryError};

use crate::relay::{Outbox, OutboxRow};

/// The oldest unpublished rows that no other relay holds, each only if no
/// earlier row of its order is unpublished: an earlier row that another
/// relay holds counts as unpublished until that relay commits, so one
/// order's events never overtake each other, whatever the relays running at
/// once. The check is a lookup in `idx_outbox_order_id` per candidate row
/// (an order has a few events), and the scan stops at `limit`: 3 ms with
/// 66,000 unpublished rows (EXPLAIN ANALYZE).
///
/// `::text` casts, so every column but the id reads as a plain string; the
/// `headers` object as two text arrays, names and values in the same order
/// (a JSON `null` value reads as a NULL element).
const UNPUBLISHED: &str =
    "SELECT o.id, o.event_id::text, o.event_type, o.order_id::text, o.payload::text, \
     ARRAY(SELECT key FROM jsonb_each_text(o.headers) ORDER BY key), \
     ARRAY(SELECT value FROM jsonb_each_text(o.headers) ORDER BY key) \
     FROM outbox o WHERE o.published_at IS NULL \
     AND NOT EXISTS (SELECT 1 FROM outbox earlier WHERE earlier.order_id = o.order_id \
     AND earlier.published_at IS NULL AND earlier.id < o.id) \
     ORDER BY o.id LIMIT $1 FOR UPDATE OF o SKIP LOCKED";
/// `clock_timestamp()`, not `now()`: the moment of publishing, not the start
/// of the relay's transaction (the relay's lag is read from it).
const MARK_PUBLISHED: &str = "UPDATE outbox SET published_at = clock_timestamp(), \
     attempts = attempts + 1 WHERE id = ANY($1)";
const MARK_ATTEMPTED: &str = "UPDATE outbox SET attempts = attempts + 1 WHERE id = $1";

pub struct PgOutbox {
    connection: Connection,
}

impl PgOutbox {
    /// Opens the connection; the error names no address (it holds a
    /// password).
    pub fn open(address: &str) -> Result<Self, String> {
        let connection = Connection::open(address)
            .map_err(|e| format!("database: connecting: {}", describe(&e)))?;
        Ok(Self { connection })
    }

    fn execute(&self, statement: &str, params: &[ParameterValue]) -> Result<u64, String> {
        self.connection
            .execute(statement, params)
            .map_err(|e| describe(&e))
    }
}

/// A driver error as one line: the server's own text when there is one.
fn describe(error: &PgError) -> String {
    match error {
        PgError::ConnectionFailed(why) => format!("connection failed: {why}"),
        PgError::QueryFailed(QueryError::DbError(db)) => db.as_text.clone(),
        other => format!("{other:?}"),
    }
}

fn text(row: &[DbValue], index: usize, column: &str) -> Result<String, String> {
    match row.get(index) {
        Some(DbValue::Str(s)) => Ok(s.clone()),
        other => Err(format!("column {column} holds an unexpected {other:?}")),
    }
}

fn text_array(row: &[DbValue], index: usize, column: &str) -> Result<Vec<Option<String>>, String> {
    match row.get(index) {
        Some(DbValue::ArrayStr(items)) => Ok(items.clone()),
        other => Err(format!("column {column} holds an unexpected {other:?}")),
    }
}

/// The `headers` object's pairs; a name whose value is not there (JSON
/// `null`) is left out.
fn headers(row: &[DbValue]) -> Result<Vec<(String, String)>, String> {
    let names = text_array(row, 5, "headers (names)")?;
    let values = text_array(row, 6, "headers (values)")?;
    Ok(names
        .into_iter()
        .zip(values)
        .filter_map(|(name, value)| Some((name?, value?)))
        .collect())
}

fn outbox_row(row: &[DbValue]) -> Result<OutboxRow, String> {
    let id = match row.first() {
        Some(DbValue::Int64(id)) => *id,
        other => return Err(format!("column id holds an unexpected {other:?}")),
    };
    Ok(OutboxRow {
        id,
        event_id: text(row, 1, "event_id")?,
        event_type: text(row, 2, "event_type")?,
        order_id: text(row, 3, "order_id")?,
        payload: text(row, 4, "payload")?,
        headers: headers(row)?,
    })
}

/// One row changed, or the statement did not do what it should.
fn one_row(changed: u64, id: i64) -> Result<(), String> {
    if changed == 1 {
        Ok(())
    } else {
        Err(format!(
            "outbox id {id}: {changed} rows updated, expected 1"
        ))
    }
}

impl Outbox for PgOutbox {
    fn begin(&self) -> Result<(), String> {
        self.execute("BEGIN", &[]).map(|_| ())
    }

    fn unpublished(&self, limit: u32) -> Result<Vec<OutboxRow>, String> {
        let rows = self
            .connection
            .query(UNPUBLISHED, &[ParameterValue::Int64(i64::from(limit))])
            .map_err(|e| describe(&e))?;
        rows.rows.iter().map(|row| outbox_row(row)).collect()
    }

    fn mark_published(&self, ids: &[i64]) -> Result<(), String> {
        let changed = self.execute(
            MARK_PUBLISHED,
            &[ParameterValue::ArrayInt64(
                ids.iter().copied().map(Some).collect(),
            )],
        )?;
        if changed == ids.len() as u64 {
            Ok(())
        } else {
            Err(format!(
                "{changed} outbox rows marked published, expected {}",
                ids.len()
            ))
        }
    }

    fn mark_attempted(&self, id: i64) -> Result<(), String> {
        one_row(
            self.execute(MARK_ATTEMPTED, &[ParameterValue::Int64(id)])?,
            id,
        )
    }

    fn commit(&self) -> Result<(), String> {
        self.execute("COMMIT", &[]).map(|_| ())
    }

    fn rollback(&self) -> Result<(), String> {
        self.execute("ROLLBACK", &[]).map(|_| ())
    }
}
