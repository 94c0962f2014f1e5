//! Reading an order back from a row of [`super::ORDER_COLUMNS`]; a value of
//! the wrong shape is an error, never a guess.

use chrono::{NaiveDate, NaiveDateTime};
use sales_domain::ids::{OrderId, ProductId, UserId};
use sales_domain::order::{IdempotencyKey, Order, OrderStatus, Quantity};
use sales_domain::ports::RepositoryError;
use sales_domain::time::Timestamp;
use spin_sdk::pg4::DbValue;

fn corrupt(column: &str, value: &DbValue) -> RepositoryError {
    RepositoryError::Other(format!("column {column} holds an unexpected {value:?}"))
}

fn text<'v>(row: &'v [DbValue], index: usize, column: &str) -> Result<&'v str, RepositoryError> {
    match &row[index] {
        DbValue::Str(s) | DbValue::Uuid(s) => Ok(s),
        other => Err(corrupt(column, other)),
    }
}

fn timestamp(value: &DbValue, column: &str) -> Result<Option<Timestamp>, RepositoryError> {
    match value {
        DbValue::DbNull => Ok(None),
        DbValue::Datetime((year, month, day, hour, minute, second, nanos)) => {
            NaiveDate::from_ymd_opt(*year, u32::from(*month), u32::from(*day))
                .and_then(|date| {
                    date.and_hms_nano_opt(
                        u32::from(*hour),
                        u32::from(*minute),
                        u32::from(*second),
                        *nanos,
                    )
                })
                .map(|t: NaiveDateTime| Some(Timestamp::from_naive_utc(t)))
                .ok_or_else(|| corrupt(column, value))
        }
        other => Err(corrupt(column, other)),
    }
}

/// The order, and the fingerprint of the request that created it (empty
/// for orders from before fingerprints were kept).
pub(super) fn order_from_row(row: &[DbValue]) -> Result<(Order, String), RepositoryError> {
    let id = |index, column| {
        text(row, index, column)
            .and_then(|s| uuid::Uuid::parse_str(s).map_err(|_| corrupt(column, &row[index])))
    };
    let quantity = match &row[3] {
        DbValue::Int32(n) => u32::try_from(*n)
            .ok()
            .and_then(|n| Quantity::new(n).ok())
            .ok_or_else(|| corrupt("quantity", &row[3]))?,
        other => return Err(corrupt("quantity", other)),
    };
    let status =
        OrderStatus::parse(text(row, 4, "status")?).map_err(|_| corrupt("status", &row[4]))?;
    let idempotency_key = IdempotencyKey::new(text(row, 5, "idempotency_key")?)
        .map_err(|_| corrupt("idempotency_key", &row[5]))?;
    let required =
        |index, column| timestamp(&row[index], column)?.ok_or_else(|| corrupt(column, &row[index]));
    let order = Order {
        id: OrderId::from_uuid(id(0, "order_id")?),
        user_id: UserId::from_uuid(id(1, "user_id")?),
        product_id: ProductId::from_uuid(id(2, "product_id")?),
        quantity,
        status,
        idempotency_key,
        created_at: required(6, "created_at")?,
        updated_at: required(7, "updated_at")?,
        shipped_at: timestamp(&row[8], "shipped_at")?,
        delivered_at: timestamp(&row[9], "delivered_at")?,
    };
    let fingerprint = match &row[10] {
        DbValue::Str(s) => s.clone(),
        _ => String::new(),
    };
    Ok((order, fingerprint))
}
