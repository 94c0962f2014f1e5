//! [`OrderRepository`] in PostgreSQL.
//!
//! An order and its `OrderCreated` outbox row are written by ONE statement
//! (a data-modifying CTE is atomic): no order without its event, no event
//! without its order, in one round trip; a second one, once it has
//! committed, wakes the outbox relay.
//!
//! Each call has a connection of its own ([`connect`]): no call needs
//! another's session, and the pooled connection goes back before the
//! request's Redis work (the idempotency record, the cache) and its
//! response (bench/results/api-connection-release-ab-2026-12-07.txt).

use sales_domain::correlation::Correlation;
use sales_domain::events::EventEnvelope;
use sales_domain::ids::{OrderId, UserId};
use sales_domain::order::{IdempotencyKey, Order};
use sales_domain::ports::{OrderRepository, RepositoryError};
use spin_sdk::pg4::ParameterValue;

use super::rows::order_from_row;
use super::{
    connect, datetime, outbox_headers, repository_error, uuid, wake_outbox_relay, ORDER_COLUMNS,
};

const INSERT_ORDER_WITH_EVENT: &str = "\
WITH new_order AS (
    INSERT INTO orders (order_id, user_id, product_id, quantity, status, idempotency_key,
                        request_fingerprint, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
    RETURNING order_id
)
INSERT INTO outbox (event_id, event_type, order_id, payload, headers)
SELECT $9, $10, order_id, $11, $12 FROM new_order";

pub struct PgOrderRepository<'a> {
    address: &'a str,
}

impl<'a> PgOrderRepository<'a> {
    pub fn new(address: &'a str) -> Self {
        Self { address }
    }

    fn find_where(
        &self,
        condition: &str,
        params: &[ParameterValue],
    ) -> Result<Option<(Order, String)>, RepositoryError> {
        let statement = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE {condition}");
        let rows = connect(self.address)?
            .query(&statement, params)
            .map_err(repository_error)?;
        rows.rows.first().map(|row| order_from_row(row)).transpose()
    }
}

impl OrderRepository for PgOrderRepository<'_> {
    fn insert_with_event(
        &self,
        order: &Order,
        fingerprint: &str,
        event: &EventEnvelope,
        correlation: &Correlation,
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
            outbox_headers(correlation),
        ];
        let connection = connect(self.address)?;
        connection
            .execute(INSERT_ORDER_WITH_EVENT, &params)
            .map_err(repository_error)?;
        wake_outbox_relay(&connection);
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
