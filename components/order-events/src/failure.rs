//! The one place where a failure becomes a `handle-message-error`, and so
//! decides the message's fate: `reject` dead-letters it at once, `retry`
//! redelivers it after the next delay, `other` is treated like `retry`.

use sales_domain::events::EnvelopeError;
use sales_domain::update_status::ApplyStatusError;

use crate::bindings::sales::messaging::types::HandleMessageError;

/// A message that is not a status event will never be one.
pub fn unreadable(error: &EnvelopeError) -> HandleMessageError {
    HandleMessageError::Reject(error.to_string())
}

/// The domain says what is worth retrying; anything unexpected is `other`.
pub fn not_applied(error: &ApplyStatusError) -> HandleMessageError {
    let reason = error.to_string();
    match error {
        ApplyStatusError::Internal(_) => HandleMessageError::Other(reason),
        retryable if retryable.is_retryable() => HandleMessageError::Retry(reason),
        _ => HandleMessageError::Reject(reason),
    }
}

/// `reject: ...`, `retry: ...` or `other: ...`, for the log.
pub fn describe(failure: &HandleMessageError) -> String {
    match failure {
        HandleMessageError::Reject(reason) => format!("reject: {reason}"),
        HandleMessageError::Retry(reason) => format!("retry: {reason}"),
        HandleMessageError::Other(reason) => format!("other: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sales_domain::events::EventType;
    use sales_domain::order::{OrderStatus, TransitionError};

    #[test]
    fn a_message_that_is_not_a_status_event_is_rejected() {
        for error in [
            EnvelopeError::NotJson,
            EnvelopeError::NotAnEnvelope("event_id is missing".into()),
            EnvelopeError::NotAStatusEvent(EventType::OrderCreated),
            EnvelopeError::InvalidData("shipped_at must be an RFC 3339 timestamp".into()),
        ] {
            assert_eq!(
                unreadable(&error),
                HandleMessageError::Reject(error.to_string())
            );
        }
    }

    #[test]
    fn bytes_that_do_not_parse_are_rejected_with_the_reason() {
        let error = sales_domain::events::StatusEvent::parse(b"shipped!").unwrap_err();
        assert_eq!(
            unreadable(&error),
            HandleMessageError::Reject("message is not JSON".into())
        );
    }

    #[test]
    fn an_unknown_order_is_rejected() {
        assert_eq!(
            not_applied(&ApplyStatusError::UnknownOrder),
            HandleMessageError::Reject("unknown order".into())
        );
    }

    #[test]
    fn going_backwards_is_rejected() {
        let refusal = TransitionError::Backwards {
            from: OrderStatus::Delivered,
            to: OrderStatus::Shipped,
        };
        assert_eq!(
            not_applied(&ApplyStatusError::Refused(refusal)),
            HandleMessageError::Reject(refusal.to_string())
        );
    }

    #[test]
    fn a_delivery_before_its_shipment_is_retried() {
        let refusal = TransitionError::NotYet {
            from: OrderStatus::PendingShipment,
            to: OrderStatus::Delivered,
        };
        assert_eq!(
            not_applied(&ApplyStatusError::Refused(refusal)),
            HandleMessageError::Retry(refusal.to_string())
        );
    }

    #[test]
    fn a_database_outage_is_retried() {
        assert_eq!(
            not_applied(&ApplyStatusError::Unavailable("connection refused".into())),
            HandleMessageError::Retry("storage unavailable: connection refused".into())
        );
    }

    #[test]
    fn anything_else_is_other() {
        assert_eq!(
            not_applied(&ApplyStatusError::Internal("column status holds 7".into())),
            HandleMessageError::Other("internal error: column status holds 7".into())
        );
    }

    #[test]
    fn the_log_names_the_fate() {
        assert_eq!(
            describe(&HandleMessageError::Retry("down".into())),
            "retry: down"
        );
        assert_eq!(
            describe(&HandleMessageError::Reject("bad".into())),
            "reject: bad"
        );
        assert_eq!(
            describe(&HandleMessageError::Other("odd".into())),
            "other: odd"
        );
    }
}
