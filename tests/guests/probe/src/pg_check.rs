//! `GET /pg`: exercises the host's `spin:postgres` implementation against the
//! test's own database, and reports what it saw for the test to judge.
//!
//! It uses the `orders` table of the migrated schema: a committed insert must
//! stay, a rolled-back one must not (all rows by one user, so that a
//! repeated key violates the per-user idempotency constraint), a connection dropped inside a
//! transaction must not leave its insert behind, a unique violation must come
//! back as SQLSTATE 23505, and a UUID and a JSONB value must round-trip.

use spin_sdk::pg4::{Connection, DbValue, ParameterValue, PgError, QueryError};

/// `tag` marks the rows this run writes (the request's id), so that
/// concurrent runs never see each other's rows.
pub fn run(tag: &str) -> Result<serde_json::Value, String> {
    let address = spin_sdk::variables::get("database_url").map_err(|e| format!("{e:?}"))?;
    let open = || Connection::open(&address).map_err(|e| format!("open: {e:?}"));
    let run_id = tag;

    let key = |suffix: &str| format!("probe-{run_id}-{suffix}");
    let insert = |connection: &Connection, suffix: &str| {
        connection
            .execute(
                "INSERT INTO orders (user_id, product_id, quantity, status, idempotency_key) \
                 VALUES ('00000000-0000-4000-8000-000000000001', gen_random_uuid(), 1, 'Pending Shipment', $1)",
                &[ParameterValue::Str(key(suffix))],
            )
            .map_err(|e| format!("insert {suffix}: {e:?}"))
    };

    let connection = open()?;
    exec(&connection, "BEGIN")?;
    insert(&connection, "commit")?;
    exec(&connection, "COMMIT")?;

    exec(&connection, "BEGIN")?;
    insert(&connection, "rollback")?;
    exec(&connection, "ROLLBACK")?;

    {
        let abandoned = open()?;
        exec(&abandoned, "BEGIN")?;
        insert(&abandoned, "dropped")?;
        // Dropped here, inside its transaction.
    }

    let unique_violation_code = match insert(&connection, "commit") {
        Ok(_) => "none".to_owned(),
        Err(_) => sqlstate(connection.execute(
            "INSERT INTO orders (user_id, product_id, quantity, status, idempotency_key) \
             VALUES ('00000000-0000-4000-8000-000000000001', gen_random_uuid(), 1, 'Pending Shipment', $1)",
            &[ParameterValue::Str(key("commit"))],
        )),
    };

    // A statement the server refuses inside a transaction aborts it: what
    // follows is refused (25P02) until the transaction ends. The host sends
    // `BEGIN` with the next statement, which must not change that.
    exec(&connection, "BEGIN")?;
    let refused = connection.execute("SELEC 1", &[]).is_err();
    let after_refused_statement_code = match insert(&connection, "aborted") {
        Ok(_) => "none".to_owned(),
        Err(_) => sqlstate(connection.execute(
            "SELECT 1 FROM orders WHERE idempotency_key = $1",
            &[ParameterValue::Str(key("aborted"))],
        )),
    };
    exec(&connection, "ROLLBACK")?;
    // An empty transaction commits.
    exec(&connection, "BEGIN")?;
    exec(&connection, "COMMIT")?;

    let count = |suffix: &str| -> Result<i64, String> {
        let rows = connection
            .query(
                "SELECT count(*) FROM orders WHERE idempotency_key = $1",
                &[ParameterValue::Str(key(suffix))],
            )
            .map_err(|e| format!("count: {e:?}"))?;
        match rows.rows.first().and_then(|row| row.first()) {
            Some(DbValue::Int64(n)) => Ok(*n),
            other => Err(format!("count returned {other:?}")),
        }
    };

    let uuid_sent = "5f0c2a7e-8a4b-4c1e-9d3f-2b6a1c0e9f11";
    let values = connection
        .query(
            "SELECT $1::uuid AS u, $2::jsonb AS j",
            &[
                ParameterValue::Uuid(uuid_sent.to_owned()),
                ParameterValue::Jsonb(br#"{"a":[1,2]}"#.to_vec()),
            ],
        )
        .map_err(|e| format!("select values: {e:?}"))?;
    let row = values.rows.first().ok_or("no row")?;
    let uuid = match &row[0] {
        DbValue::Uuid(u) => u.clone(),
        other => format!("unexpected {other:?}"),
    };
    let jsonb: serde_json::Value = match &row[1] {
        DbValue::Jsonb(bytes) => serde_json::from_slice(bytes).map_err(|e| e.to_string())?,
        other => serde_json::Value::String(format!("unexpected {other:?}")),
    };

    let report = serde_json::json!({
        "committed": count("commit")?,
        "rolled_back": count("rollback")?,
        "dropped_in_transaction": count("dropped")?,
        "unique_violation_code": unique_violation_code,
        "refused_statement_failed": refused,
        "after_refused_statement_code": after_refused_statement_code,
        "aborted": count("aborted")?,
        "uuid_sent": uuid_sent,
        "uuid": uuid,
        "jsonb": jsonb,
    });
    exec(
        &connection,
        &format!("DELETE FROM orders WHERE idempotency_key LIKE 'probe-{run_id}-%'"),
    )?;
    Ok(report)
}

fn sqlstate(outcome: Result<u64, PgError>) -> String {
    match outcome {
        Err(PgError::QueryFailed(QueryError::DbError(e))) => e.code,
        other => format!("unexpected: {other:?}"),
    }
}

fn exec(connection: &Connection, statement: &str) -> Result<u64, String> {
    connection
        .execute(statement, &[])
        .map_err(|e| format!("{statement}: {e:?}"))
}
