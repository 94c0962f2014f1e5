//! `spin:postgres/postgres@4.0.0` over a `deadpool-postgres` pool per address.
//!
//! A guest's connection holds one pooled connection for its whole life, so
//! `BEGIN` ... `COMMIT` issued as statements form a real transaction (the
//! interface has no transaction call). A connection dropped inside a
//! transaction is rolled back before it goes back to the pool.

use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;
use wasmtime::component::Resource;

use crate::state::GuestState;

use super::pg_values::{self, SqlParam};
use super::spin::postgres::postgres::{self as wit, Error, ParameterValue, RowSet};

pub struct PgConnection {
    client: Object,
    in_transaction: bool,
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

impl PgConnection {
    fn note(&mut self, statement: &str) {
        match transaction_effect(statement) {
            TransactionEffect::Begins => self.in_transaction = true,
            TransactionEffect::Ends => self.in_transaction = false,
            TransactionEffect::None => {}
        }
    }

    /// The statement prepared (and cached on this connection) with its
    /// parameters converted, ready to run.
    async fn prepare(
        &mut self,
        statement: &str,
        params: Vec<ParameterValue>,
    ) -> Result<(tokio_postgres::Statement, Vec<SqlParam>), Error> {
        let params = pg_values::to_sql_params(params)?;
        let prepared = self
            .client
            .prepare_cached(statement)
            .await
            .map_err(pg_values::query_error)?;
        Ok((prepared, params))
    }
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
        let client = match pool.get().await {
            Ok(client) => client,
            Err(e) => return Ok(Err(Error::ConnectionFailed(e.to_string()))),
        };
        Ok(Ok(self.table.push(PgConnection {
            client,
            in_transaction: false,
        })?))
    }

    async fn query(
        &mut self,
        this: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Outcome<RowSet> {
        let connection = self.table.get_mut(&this)?;
        let (prepared, params) = match connection.prepare(&statement, params).await {
            Ok(ready) => ready,
            Err(e) => return Ok(Err(e)),
        };
        let rows = connection
            .client
            .query(&prepared, &param_refs(&params))
            .await;
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
        let (prepared, params) = match connection.prepare(&statement, params).await {
            Ok(ready) => ready,
            Err(e) => return Ok(Err(e)),
        };
        let count = connection
            .client
            .execute(&prepared, &param_refs(&params))
            .await;
        if count.is_ok() {
            connection.note(&statement);
        }
        Ok(count.map_err(pg_values::query_error))
    }

    async fn drop(&mut self, this: Resource<PgConnection>) -> wasmtime::Result<()> {
        let connection = self.table.delete(this)?;
        if connection.in_transaction {
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
