//! The one error type every broker operation returns.

/// Why a broker operation failed, sorted by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// The broker could not be reached or did not answer in time (connection refused or
    /// lost, timeout, reconnect back-off in progress). Retrying later may succeed.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker answered and refused the operation (publisher nack, unroutable message
    /// returned, missing exchange, argument mismatch). Retrying the same thing will fail
    /// again.
    #[error("rejected by broker: {0}")]
    Rejected(String),
    /// The client was configured wrongly (bad URL, invalid option).
    #[error("broker configuration: {0}")]
    Config(String),
}

impl BrokerError {
    /// Whether the same operation may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, BrokerError::Unavailable(_))
    }
}
