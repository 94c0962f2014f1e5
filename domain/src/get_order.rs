//! Use case: show one order to its owner (or an admin).

use crate::auth::Principal;
use crate::ids::OrderId;
use crate::order::Order;
use crate::ports::{OrderCache, OrderRepository, RepositoryError};

/// The ports this use case needs, borrowed for one request.
pub struct GetOrder<'a> {
    pub repository: &'a dyn OrderRepository,
    pub cache: &'a dyn OrderCache,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetOrderError {
    /// No such order, or one the caller may not see: the two look the same
    /// so that order ids cannot be probed.
    #[error("order not found")]
    NotFound,
    /// The database could not be reached.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the text is for logs, not for clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl GetOrder<'_> {
    pub fn execute(&self, principal: &Principal, id: &OrderId) -> Result<Order, GetOrderError> {
        let order = match self.cache.get(id) {
            // An entry under the wrong key would be an adapter bug; the
            // database is the safer answer.
            Some(cached) if cached.id == *id => cached,
            _ => {
                let stored = self
                    .repository
                    .find(id)
                    .map_err(|error| match error {
                        RepositoryError::Unavailable(why) => GetOrderError::Unavailable(why),
                        other => GetOrderError::Internal(other.to_string()),
                    })?
                    .ok_or(GetOrderError::NotFound)?;
                self.cache.put(&stored);
                stored
            }
        };
        // Checked after the cache as well: a cached order is no less private.
        if principal.may_act_for(&order.user_id) {
            Ok(order)
        } else {
            Err(GetOrderError::NotFound)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{
        admin, at, order_for, other_user, principal_for, user, FakeCache, FakeRepository,
    };

    fn repository_with(order: &Order) -> FakeRepository {
        let repository = FakeRepository::default();
        repository.seed(order.clone(), "fingerprint");
        repository
    }

    #[test]
    fn a_cached_order_is_served_without_the_database() {
        let order = order_for(user(), at(0));
        let cache = FakeCache::with(&order);
        let repository = FakeRepository::default();
        repository.fail_with(RepositoryError::Unavailable("down".into()));
        let use_case = GetOrder {
            repository: &repository,
            cache: &cache,
        };

        assert_eq!(
            use_case.execute(&principal_for(user()), &order.id),
            Ok(order)
        );
    }

    #[test]
    fn a_miss_reads_the_database_and_fills_the_cache() {
        let order = order_for(user(), at(0));
        let repository = repository_with(&order);
        let cache = FakeCache::default();
        let use_case = GetOrder {
            repository: &repository,
            cache: &cache,
        };

        assert_eq!(
            use_case.execute(&principal_for(user()), &order.id),
            Ok(order.clone())
        );
        assert_eq!(cache.get(&order.id), Some(order));
    }

    #[test]
    fn an_unknown_order_is_not_found() {
        let repository = FakeRepository::default();
        let cache = FakeCache::default();
        let use_case = GetOrder {
            repository: &repository,
            cache: &cache,
        };
        let id = order_for(user(), at(0)).id;

        assert_eq!(
            use_case.execute(&principal_for(user()), &id),
            Err(GetOrderError::NotFound)
        );
    }

    #[test]
    fn another_users_order_is_not_found_whether_cached_or_not() {
        let order = order_for(other_user(), at(0));
        let repository = repository_with(&order);
        let cache = FakeCache::default();
        let use_case = GetOrder {
            repository: &repository,
            cache: &cache,
        };

        for _ in 0..2 {
            assert_eq!(
                use_case.execute(&principal_for(user()), &order.id),
                Err(GetOrderError::NotFound)
            );
        }
        assert_eq!(cache.get(&order.id), Some(order));
    }

    #[test]
    fn an_admin_sees_any_users_order() {
        let order = order_for(other_user(), at(0));
        let repository = repository_with(&order);
        let cache = FakeCache::default();
        let use_case = GetOrder {
            repository: &repository,
            cache: &cache,
        };

        assert_eq!(use_case.execute(&admin(), &order.id), Ok(order));
    }

    #[test]
    fn a_database_outage_is_unavailable_and_other_failures_internal() {
        let repository = FakeRepository::default();
        let cache = FakeCache::default();
        let use_case = GetOrder {
            repository: &repository,
            cache: &cache,
        };
        let id = order_for(user(), at(0)).id;

        repository.fail_with(RepositoryError::Unavailable("down".into()));
        assert_eq!(
            use_case.execute(&principal_for(user()), &id),
            Err(GetOrderError::Unavailable("down".into()))
        );
        repository.fail_with(RepositoryError::Other("bad row".into()));
        assert!(matches!(
            use_case.execute(&principal_for(user()), &id),
            Err(GetOrderError::Internal(_))
        ));
    }

    #[test]
    fn a_cache_entry_under_the_wrong_id_is_ignored() {
        let order = order_for(user(), at(0));
        let mut stray = order_for(user(), at(0));
        stray.id = OrderId::from_uuid(uuid::Uuid::from_u128(99));
        let cache = FakeCache::default();
        cache.insert_under(order.id, stray);
        let repository = repository_with(&order);
        let use_case = GetOrder {
            repository: &repository,
            cache: &cache,
        };

        assert_eq!(
            use_case.execute(&principal_for(user()), &order.id),
            Ok(order)
        );
    }
}
