//! What ties an event to the request that caused it: the request id (the
//! host's `x-request-id`) and, when the caller is traced, its W3C
//! `traceparent`. Both travel with the event to the brokers as headers, so
//! that a consumer's log lines can be matched with the request's.
//!
//! Values come from outside (an HTTP client, another service's message), so
//! they are checked here and an unusable one is dropped, never an error: a
//! missing correlation costs observability, not the order.

/// The header that carries the request id, on HTTP and on both brokers.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The W3C Trace Context header.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// The longest request id kept, as the host accepts them (CONTRACT.md).
const MAX_REQUEST_ID: usize = 128;

/// The request id and trace context an event carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Correlation {
    request_id: Option<String>,
    traceparent: Option<Traceparent>,
}

impl Correlation {
    /// From header values as received. A request id that is not 1-128
    /// printable ASCII characters, or a `traceparent` that is not valid W3C
    /// Trace Context, is left out.
    pub fn from_headers(request_id: Option<&str>, traceparent: Option<&str>) -> Self {
        Self {
            request_id: request_id.filter(|id| is_request_id(id)).map(str::to_owned),
            traceparent: traceparent.and_then(|value| Traceparent::parse(value).ok()),
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    pub fn traceparent(&self) -> Option<&Traceparent> {
        self.traceparent.as_ref()
    }

    /// The headers to send with the event: `x-request-id` and
    /// `traceparent`, each only when known.
    pub fn headers(&self) -> Vec<(&'static str, &str)> {
        let mut headers = Vec::with_capacity(2);
        if let Some(id) = &self.request_id {
            headers.push((REQUEST_ID_HEADER, id.as_str()));
        }
        if let Some(traceparent) = &self.traceparent {
            headers.push((TRACEPARENT_HEADER, traceparent.as_str()));
        }
        headers
    }
}

/// The contract's request id: 1-128 printable ASCII characters (space
/// included), the same rule the host applies to a caller's `x-request-id`.
fn is_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID && id.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// A `traceparent` value of W3C Trace Context version `00`:
/// `00-<trace-id: 32 hex>-<parent-id: 16 hex>-<trace-flags: 2 hex>`, in
/// lowercase, trace and parent ids not all zeros.
///
/// It is passed on unchanged: the service records no spans of its own, and
/// Trace Context lets a participant that does not trace forward the value as
/// it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traceparent(String);

/// Why a `traceparent` value was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)")]
pub struct InvalidTraceparent;

impl Traceparent {
    pub fn parse(value: &str) -> Result<Self, InvalidTraceparent> {
        let fields: Vec<&str> = value.split('-').collect();
        let [version, trace_id, parent_id, flags] = fields.as_slice() else {
            return Err(InvalidTraceparent);
        };
        let valid = *version == "00"
            && is_lower_hex(trace_id, 32)
            && is_lower_hex(parent_id, 16)
            && is_lower_hex(flags, 2)
            && !is_zeros(trace_id)
            && !is_zeros(parent_id);
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(InvalidTraceparent)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_lower_hex(field: &str, len: usize) -> bool {
    field.len() == len
        && field
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_zeros(field: &str) -> bool {
    field.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_w3c_traceparent_is_accepted_as_given() {
        assert_eq!(Traceparent::parse(VALID).unwrap().as_str(), VALID);
        let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        assert!(Traceparent::parse(unsampled).is_ok());
    }

    #[test]
    fn a_malformed_traceparent_is_refused() {
        let malformed = [
            "",
            "garbage",
            // Another version, or none.
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // Fields of the wrong length.
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            // Not lowercase hex.
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            // All-zero ids are invalid by the specification.
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // Extra fields or padding.
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ];
        for value in malformed {
            assert_eq!(
                Traceparent::parse(value),
                Err(InvalidTraceparent),
                "{value:?}"
            );
        }
    }

    #[test]
    fn the_headers_carry_what_is_known() {
        let both = Correlation::from_headers(Some("req-1"), Some(VALID));
        assert_eq!(
            both.headers(),
            [("x-request-id", "req-1"), ("traceparent", VALID)]
        );
        let id_only = Correlation::from_headers(Some("req-1"), None);
        assert_eq!(id_only.headers(), [("x-request-id", "req-1")]);
        assert!(Correlation::default().headers().is_empty());
    }

    #[test]
    fn an_invalid_traceparent_is_dropped_and_the_request_id_kept() {
        let correlation = Correlation::from_headers(Some("req-1"), Some("00-nope"));
        assert_eq!(correlation.request_id(), Some("req-1"));
        assert_eq!(correlation.traceparent(), None);
        assert_eq!(correlation.headers(), [("x-request-id", "req-1")]);
    }

    #[test]
    fn a_request_id_outside_the_contract_is_dropped() {
        let too_long = "a".repeat(129);
        for id in ["", too_long.as_str(), "line\nbreak", "caf\u{e9}"] {
            assert_eq!(
                Correlation::from_headers(Some(id), None).request_id(),
                None,
                "{id:?}"
            );
        }
        let longest = "a".repeat(128);
        for id in [longest.as_str(), "with space", "corr-1"] {
            assert_eq!(
                Correlation::from_headers(Some(id), None).request_id(),
                Some(id)
            );
        }
    }
}
