//! Database migrations: `migrations/*.sql`, applied in order, once each.
//!
//! sqlx's migrator does the bookkeeping (a `_sqlx_migrations` table with
//! checksums, so an edited migration is refused) and takes a Postgres
//! advisory lock, so two hosts starting together apply each file once.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

pub async fn run(database_url: &str, directory: &Path) -> anyhow::Result<usize> {
    let migrator = sqlx::migrate::Migrator::new(directory)
        .await
        .with_context(|| format!("reading migrations from {directory:?}"))?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(database_url)
        .await
        .context("connecting to the database (database_url) to apply migrations")?;
    let result = migrator.run(&pool).await.context("applying migrations");
    pool.close().await;
    result?;
    Ok(migrator.iter().count())
}
