//! `spin:postgres/postgres@4.0.0` over a `deadpool-postgres` pool per address.
//!
//! A guest's connection holds one pooled connection for its whole life, so
//! `BEGIN` ... `COMMIT` issued as statements form a real transaction (the
//! interface has no transaction call). A connection dropped inside a
//! transaction is rolled back before it goes back to the pool.
//!
//! A bare `BEGIN` is not sent on its own: it goes out with the guest's next
//! statement, pipelined on the connection, so that a transaction costs one
//! round trip less (Npgsql starts its transactions the same way). Nothing
//! runs on the server in between, so a guest cannot tell the difference.

use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;
use wasmtime::component::Resource;

use crate::ops::metrics::metrics;
use crate::state::GuestState;

use super::pg_values::{self, SqlParam};
use super::spin::postgres::postgres::{self as wit, Error, ParameterValue, RowSet};

pub struct PgConnection {
    client: Object,
    in_transaction: bool,
    /// The guest said `BEGIN`, which is still to be sent, ahead of its next
    /// statement.
    begin_pending: bool,
}

type Outcome<T> = wasmtime::Result<Result<T, Error>>;

/// How a statement changes the session's transaction state, judged by its
/// first keyword.
#[derive(Debug, PartialEq, Eq)]
enum TransactionEffect {
    Begins,
    Ends,
    None,
}

fn transaction_effect(statement: &str) -> TransactionEffect {
    let mut words = statement
        .trim_start()
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty());
    let first = words.next().unwrap_or_default().to_ascii_uppercase();
    let second = words.next().unwrap_or_default().to_ascii_uppercase();
    match first.as_str() {
        "BEGIN" | "START" => TransactionEffect::Begins,
        "COMMIT" | "END" | "ABORT" => TransactionEffect::Ends,
        // `ROLLBACK TO [SAVEPOINT] x` stays inside the transaction.
        "ROLLBACK" if second != "TO" => TransactionEffect::Ends,
        _ => TransactionEffect::None,
    }
}

/// `BEGIN` alone (any case, an optional `;`): the only statement whose
/// sending is deferred. `BEGIN ISOLATION LEVEL ...` and `START TRANSACTION`
/// go out as they are.
fn is_bare_begin(statement: &str, params: &[ParameterValue]) -> bool {
    params.is_empty()
        && statement
            .trim()
            .trim_end_matches(';')
            .trim_end()
            .eq_ignore_ascii_case("BEGIN")
}

/// What becomes of a guest's statement.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// A `BEGIN`, kept to be sent with the next statement.
    DeferBegin,
    /// The end of a transaction whose `BEGIN` was never sent: it ran nothing,
    /// so committing or rolling it back has nothing to do on the server.
    EndUnsentTransaction,
    /// Sent, behind the pending `BEGIN` if there is one.
    Send,
}

impl PgConnection {
    fn plan(&mut self, statement: &str, params: &[ParameterValue]) -> Plan {
        if !self.in_transaction && is_bare_begin(statement, params) {
            self.in_transaction = true;
            self.begin_pending = true;
            return Plan::DeferBegin;
        }
        if self.begin_pending && transaction_effect(statement) == TransactionEffect::Ends {
            self.in_transaction = false;
            self.begin_pending = false;
            return Plan::EndUnsentTransaction;
        }
        Plan::Send
    }

    /// The pending `BEGIN`, prepared (and cached on this connection) so that
    /// sending it needs no round trip of its own; `None` if there is none.
    async fn take_pending_begin(&mut self) -> Result<Option<tokio_postgres::Statement>, Error> {
        if !self.begin_pending {
            return Ok(None);
        }
        let begin = self
            .client
            .prepare_cached("BEGIN")
            .await
            .map_err(pg_values::query_error)?;
        self.begin_pending = false;
        Ok(Some(begin))
    }

    fn note(&mut self, statement: &str) {
        match transaction_effect(statement) {
            TransactionEffect::Begins => self.in_transaction = true,
            TransactionEffect::Ends => self.in_transaction = false,
            TransactionEffect::None => {}
        }
    }

    /// The statement prepared (and cached on this connection) with its
    /// parameters converted, and the pending `BEGIN` to send ahead of it, if
    /// any: ready to run.
    async fn prepare(
        &mut self,
        statement: &str,
        params: Vec<ParameterValue>,
    ) -> Result<
        (
            tokio_postgres::Statement,
            Vec<SqlParam>,
            Option<tokio_postgres::Statement>,
        ),
        Error,
    > {
        let params = pg_values::to_sql_params(params)?;
        let prepared = match self.client.prepare_cached(statement).await {
            Ok(prepared) => prepared,
            Err(error) if self.begin_pending => {
                return Err(self.fail_inside_transaction(statement, error).await)
            }
            Err(error) => return Err(pg_values::query_error(error)),
        };
        let begin = self.take_pending_begin().await?;
        Ok((prepared, params, begin))
    }

    /// A statement the server refused while its `BEGIN` was still pending:
    /// the `BEGIN` goes out now and the statement is refused again inside the
    /// transaction, which the server then holds aborted until it ends, just
    /// as if the `BEGIN` had never waited.
    async fn fail_inside_transaction(
        &mut self,
        statement: &str,
        error: tokio_postgres::Error,
    ) -> Error {
        self.begin_pending = false;
        if let Err(begin_error) = self.client.batch_execute("BEGIN").await {
            return pg_values::query_error(begin_error);
        }
        let error = self.client.prepare(statement).await.err().unwrap_or(error);
        pg_values::query_error(error)
    }
}

/// Runs `statement`, behind `begin` when there is one: both are written to
/// the connection before either answer is awaited, in that order. A `BEGIN`
/// that fails means the connection is gone, and is the statement's error.
async fn behind_begin<T>(
    client: &Object,
    begin: Option<tokio_postgres::Statement>,
    statement: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, tokio_postgres::Error> {
    let Some(begin) = begin else {
        return statement.await;
    };
    let (begun, ran) = futures::join!(client.execute(&begin, &[]), statement);
    begun?;
    ran
}

fn param_refs(params: &[SqlParam]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

impl wit::Host for GuestState {}

impl wit::HostConnection for GuestState {
    async fn open(&mut self, address: String) -> Outcome<Resource<PgConnection>> {
        if !self.component.allowed_hosts.allows_address(&address) {
            tracing::warn!(
                component = %self.component.id,
                request_id = %self.request_id,
                "postgres address denied: not in allowed_outbound_hosts"
            );
            return Ok(Err(Error::ConnectionFailed(
                "address is not permitted by allowed_outbound_hosts".to_owned(),
            )));
        }
        let pool = match self.services.pg_pool(&address) {
            Ok(pool) => pool,
            Err(e) => return Ok(Err(Error::ConnectionFailed(e.to_string()))),
        };
        let waiting = std::time::Instant::now();
        let client = pool.get().await;
        metrics()
            .db_pool_wait
            .with_label_values(&[&*self.component.id])
            .observe(waiting.elapsed().as_secs_f64());
        let client = match client {
            Ok(client) => client,
            Err(e) => return Ok(Err(Error::ConnectionFailed(e.to_string()))),
        };
        Ok(Ok(self.table.push(PgConnection {
            client,
            in_transaction: false,
            begin_pending: false,
        })?))
    }

    async fn query(
        &mut self,
        this: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Outcome<RowSet> {
        let connection = self.table.get_mut(&this)?;
        if connection.plan(&statement, &params) != Plan::Send {
            return Ok(Ok(RowSet {
                columns: Vec::new(),
                rows: Vec::new(),
            }));
        }
        let (prepared, params, begin) = match connection.prepare(&statement, params).await {
            Ok(ready) => ready,
            Err(e) => return Ok(Err(e)),
        };
        let client = &connection.client;
        let rows = behind_begin(client, begin, client.query(&prepared, &param_refs(&params))).await;
        if rows.is_ok() {
            connection.note(&statement);
        }
        Ok(match rows {
            Ok(rows) => pg_values::row_set(prepared.columns(), &rows),
            Err(e) => Err(pg_values::query_error(e)),
        })
    }

    async fn execute(
        &mut self,
        this: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Outcome<u64> {
        let connection = self.table.get_mut(&this)?;
        if connection.plan(&statement, &params) != Plan::Send {
            return Ok(Ok(0));
        }
        let (prepared, params, begin) = match connection.prepare(&statement, params).await {
            Ok(ready) => ready,
            Err(e) => return Ok(Err(e)),
        };
        let client = &connection.client;
        let count = behind_begin(
            client,
            begin,
            client.execute(&prepared, &param_refs(&params)),
        )
        .await;
        if count.is_ok() {
            connection.note(&statement);
        }
        Ok(count.map_err(pg_values::query_error))
    }

    async fn drop(&mut self, this: Resource<PgConnection>) -> wasmtime::Result<()> {
        let connection = self.table.delete(this)?;
        if connection.in_transaction && !connection.begin_pending {
            if let Err(e) = connection.client.batch_execute("ROLLBACK").await {
                tracing::warn!(error = %e, "discarding a connection left in a transaction");
                drop(Object::take(connection.client));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bare_begin_is_deferred() {
        assert!(is_bare_begin("BEGIN", &[]));
        assert!(is_bare_begin("  begin ; ", &[]));
        assert!(!is_bare_begin("BEGIN ISOLATION LEVEL SERIALIZABLE", &[]));
        assert!(!is_bare_begin("START TRANSACTION", &[]));
        assert!(!is_bare_begin("BEGIN", &[ParameterValue::Int32(1)]));
    }

    #[test]
    fn transaction_statements_are_recognised() {
        assert_eq!(transaction_effect("  begin;"), TransactionEffect::Begins);
        assert_eq!(
            transaction_effect("START TRANSACTION"),
            TransactionEffect::Begins
        );
        assert_eq!(transaction_effect("commit"), TransactionEffect::Ends);
        assert_eq!(transaction_effect("ROLLBACK"), TransactionEffect::Ends);
        assert_eq!(
            transaction_effect("rollback to savepoint a"),
            TransactionEffect::None
        );
        assert_eq!(transaction_effect("SELECT 1"), TransactionEffect::None);
    }
}
