//! Orders in PostgreSQL, through Spin's `spin:postgres` interface.
//!
//! An order and its `OrderCreated` outbox row are written by ONE statement
//! (a data-modifying CTE is atomic): no order without its event, no event
//! without its order, in one round trip.

use std::cell::OnceCell;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use sales_domain::events::EventEnvelope;
use sales_domain::ids::{OrderId, ProductId, UserId};
use sales_domain::order::{IdempotencyKey, Order, OrderStatus, Quantity};
use sales_domain::ports::{OrderRepository, RepositoryError};
use sales_domain::time::Timestamp;
use spin_sdk::pg4::{Connection, DbValue, ParameterValue, PgError, QueryError};

/// The contract's `UNIQUE (user_id, idempotency_key)` (migration 0002).
const IDEMPOTENCY_CONSTRAINT: &str = "orders_user_id_idempotency_key_key";

const INSERT_ORDER_WITH_EVENT: &str = "\
WITH new_order AS (
    INSERT INTO orders (order_id, user_id, product_id, quantity, status, idempotency_key,
                        request_fingerprint, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
    RETURNING order_id
)
INSERT INTO outbox (event_id, event_type, order_id, payload)
SELECT $9, $10, order_id, $11 FROM new_order";

const ORDER_COLUMNS: &str = "order_id, user_id, product_id, quantity, status, idempotency_key, \
     created_at, updated_at, shipped_at, delivered_at, request_fingerprint";

pub struct PgOrderRepository<'a> {
    address: &'a str,
    connection: OnceCell<Connection>,
}

impl<'a> PgOrderRepository<'a> {
    pub fn new(address: &'a str) -> Self {
        Self {
            address,
            connection: OnceCell::new(),
        }
    }

    fn connection(&self) -> Result<&Connection, RepositoryError> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection);
        }
        let connection = Connection::open(self.address).map_err(repository_error)?;
        Ok(self.connection.get_or_init(|| connection))
    }

    fn find_where(
        &self,
        condition: &str,
        params: &[ParameterValue],
    ) -> Result<Option<(Order, String)>, RepositoryError> {
        let statement = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE {condition}");
        let rows = self
            .connection()?
            .query(&statement, params)
            .map_err(repository_error)?;
        rows.rows.first().map(|row| order_from_row(row)).transpose()
    }
}

/// Driver errors in domain terms: the idempotency constraint is a duplicate,
/// a lost or refused connection means the database is unavailable.
fn repository_error(error: PgError) -> RepositoryError {
    match &error {
        PgError::ConnectionFailed(why) => RepositoryError::Unavailable(why.clone()),
        PgError::QueryFailed(QueryError::DbError(db)) => {
            let constraint = db
                .extras
                .iter()
                .find(|(name, _)| name == "constraint")
                .map(|(_, value)| value.as_str());
            if db.code == "23505"
                && (constraint == Some(IDEMPOTENCY_CONSTRAINT)
                    || db.message.contains(IDEMPOTENCY_CONSTRAINT))
            {
                RepositoryError::DuplicateIdempotencyKey
            } else if db.code.starts_with("08") || db.code.starts_with("57P") {
                RepositoryError::Unavailable(db.as_text.clone())
            } else {
                RepositoryError::Other(db.as_text.clone())
            }
        }
        other => RepositoryError::Other(format!("{other:?}")),
    }
}

fn uuid(value: &impl ToString) -> ParameterValue {
    ParameterValue::Uuid(value.to_string())
}

fn datetime(timestamp: &Timestamp) -> ParameterValue {
    let t = timestamp.to_naive_utc();
    ParameterValue::Datetime((
        t.year(),
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond(),
    ))
}

impl OrderRepository for PgOrderRepository<'_> {
    fn insert_with_event(
        &self,
        order: &Order,
        fingerprint: &str,
        event: &EventEnvelope,
    ) -> Result<(), RepositoryError> {
        let params = [
            uuid(&order.id),
            uuid(&order.user_id),
            uuid(&order.product_id),
            ParameterValue::Int32(order.quantity.get() as i32),
            ParameterValue::Str(order.status.as_str().to_owned()),
            ParameterValue::Str(order.idempotency_key.as_str().to_owned()),
            ParameterValue::Str(fingerprint.to_owned()),
            datetime(&order.created_at),
            ParameterValue::Uuid(event.event_id.to_string()),
            ParameterValue::Str(event.event_type.as_str().to_owned()),
            ParameterValue::Jsonb(event.to_json().into_bytes()),
        ];
        self.connection()?
            .execute(INSERT_ORDER_WITH_EVENT, &params)
            .map_err(repository_error)?;
        Ok(())
    }

    fn find(&self, id: &OrderId) -> Result<Option<Order>, RepositoryError> {
        Ok(self
            .find_where("order_id = $1", &[uuid(id)])?
            .map(|(order, _)| order))
    }

    fn find_by_idempotency_key(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<(Order, String)>, RepositoryError> {
        self.find_where(
            "user_id = $1 AND idempotency_key = $2",
            &[uuid(user), ParameterValue::Str(key.as_str().to_owned())],
        )
    }
}

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

fn order_from_row(row: &[DbValue]) -> Result<(Order, String), RepositoryError> {
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
