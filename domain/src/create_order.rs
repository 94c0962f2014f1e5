//! Use case: take an order for a user, safe to retry with the same
//! idempotency key.
//!
//! Two layers guard against duplicates. The idempotency store answers most
//! retries quickly and spots requests still in flight; the database's
//! `(user_id, idempotency_key)` constraint settles races and covers the
//! store losing its records. Either way a retry of the same request gets the
//! first response again, byte for byte.

mod response;
#[cfg(test)]
mod tests;

pub use response::{created_body, created_response, CREATED};

use crate::auth::Principal;
use crate::correlation::Correlation;
use crate::events::EventEnvelope;
use crate::ids::OrderId;
use crate::new_order::NewOrder;
use crate::order::Order;
use crate::ports::{
    CatalogError, Claim, Clock, IdGenerator, IdempotencyStore, OrderRepository, ProductCatalog,
    RepositoryError, StoredResponse,
};

/// The ports this use case needs, borrowed for one request.
pub struct CreateOrder<'a> {
    pub repository: &'a dyn OrderRepository,
    pub catalog: &'a dyn ProductCatalog,
    pub idempotency: &'a dyn IdempotencyStore,
    pub clock: &'a dyn Clock,
    pub ids: &'a dyn IdGenerator,
}

/// The response to send: a new order's, or the first one replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub response: StoredResponse,
    /// True when this is an earlier request's response sent again.
    pub replayed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateOrderError {
    /// The caller may not act for the order's user.
    #[error("the caller may not act for this user")]
    Forbidden,
    /// The product is unknown or has fewer units than ordered.
    #[error("the product is unknown or has too little stock")]
    ProductUnavailable,
    /// The key was already used for a different request.
    #[error("the idempotency key was used for a different request")]
    DuplicateIdempotencyKey,
    /// The same request is still being processed; retry later.
    #[error("a request with this idempotency key is still in progress")]
    IdempotencyKeyInUse,
    /// The product service could not answer.
    #[error("product service unavailable: {0}")]
    ProductServiceUnavailable(String),
    /// The database could not be reached.
    #[error("storage unavailable: {0}")]
    StorageUnavailable(String),
    /// Anything else; the text is for logs, not for clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl CreateOrder<'_> {
    /// Takes the order; its `OrderCreated` event carries `correlation`
    /// (which is not part of the request's fingerprint: a retry under
    /// another request id is still the same request).
    pub fn execute(
        &self,
        principal: &Principal,
        request: NewOrder,
        correlation: &Correlation,
    ) -> Result<Created, CreateOrderError> {
        if !principal.may_act_for(&request.user_id) {
            return Err(CreateOrderError::Forbidden);
        }
        let fingerprint = request.fingerprint();
        let (user, key) = (&request.user_id, &request.idempotency_key);

        let holds_claim = match self.idempotency.claim(user, key, &fingerprint) {
            Claim::Completed(response) if response.fingerprint == fingerprint => {
                return Ok(Created {
                    response,
                    replayed: true,
                })
            }
            Claim::Completed(_) => return Err(CreateOrderError::DuplicateIdempotencyKey),
            Claim::InFlight {
                fingerprint: theirs,
            } if theirs == fingerprint => return Err(CreateOrderError::IdempotencyKeyInUse),
            Claim::InFlight { .. } => return Err(CreateOrderError::DuplicateIdempotencyKey),
            Claim::Claimed => true,
            Claim::Unavailable => false,
        };

        let outcome = self.create(&request, &fingerprint, correlation);
        // Without a claim there is nothing to complete or release: touching
        // the key could overwrite or drop another request's claim.
        if holds_claim {
            match &outcome {
                Ok(created) => self.idempotency.complete(user, key, &created.response),
                Err(_) => self.idempotency.release(user, key),
            }
        }
        outcome
    }

    fn create(
        &self,
        request: &NewOrder,
        fingerprint: &str,
        correlation: &Correlation,
    ) -> Result<Created, CreateOrderError> {
        if let Err(refusal) = self.check_stock(request) {
            // The idempotency store is a cache and may have lost the record of
            // an earlier success, after which stock may have changed or the
            // product service gone down: the database says whether this is a
            // retry owed the first response. If it cannot say, the product
            // problem is the answer.
            return match self.earlier_order(request, fingerprint) {
                Ok(Some(replay)) => Ok(replay),
                Err(CreateOrderError::DuplicateIdempotencyKey) => {
                    Err(CreateOrderError::DuplicateIdempotencyKey)
                }
                Ok(None) | Err(_) => Err(refusal),
            };
        }

        let order = Order::new_pending(
            OrderId::from_uuid(self.ids.new_id()),
            request.user_id,
            request.product_id,
            request.quantity,
            request.idempotency_key.clone(),
            self.clock.now(),
        );
        let event = EventEnvelope::order_created(self.ids.new_id(), &order);

        match self
            .repository
            .insert_with_event(&order, fingerprint, &event, correlation)
        {
            Ok(()) => Ok(Created {
                response: created_response(&order, fingerprint),
                replayed: false,
            }),
            // Another request with this key won a race, or the idempotency
            // store forgot an earlier one; the stored order decides which.
            Err(RepositoryError::DuplicateIdempotencyKey) => {
                self.earlier_order(request, fingerprint)?.ok_or_else(|| {
                    CreateOrderError::Internal(
                        "idempotency key constraint fired but no order has the key".into(),
                    )
                })
            }
            Err(error) => Err(storage_error(error)),
        }
    }

    fn check_stock(&self, request: &NewOrder) -> Result<(), CreateOrderError> {
        match self.catalog.available_quantity(&request.product_id) {
            Ok(Some(available)) if available >= request.quantity.get() => Ok(()),
            Ok(_) => Err(CreateOrderError::ProductUnavailable),
            Err(CatalogError::Unavailable(why)) => {
                Err(CreateOrderError::ProductServiceUnavailable(why))
            }
        }
    }

    /// The replayed response of an order already stored under this user and
    /// key, `DuplicateIdempotencyKey` if it came from a different request,
    /// `None` if there is none.
    fn earlier_order(
        &self,
        request: &NewOrder,
        fingerprint: &str,
    ) -> Result<Option<Created>, CreateOrderError> {
        let found = self
            .repository
            .find_by_idempotency_key(&request.user_id, &request.idempotency_key)
            .map_err(storage_error)?;
        match found {
            Some((order, stored)) if stored == fingerprint => Ok(Some(Created {
                response: created_response(&order, fingerprint),
                replayed: true,
            })),
            Some(_) => Err(CreateOrderError::DuplicateIdempotencyKey),
            None => Ok(None),
        }
    }
}

fn storage_error(error: RepositoryError) -> CreateOrderError {
    match error {
        RepositoryError::Unavailable(why) => CreateOrderError::StorageUnavailable(why),
        RepositoryError::DuplicateIdempotencyKey | RepositoryError::Other(_) => {
            CreateOrderError::Internal(error.to_string())
        }
    }
}
