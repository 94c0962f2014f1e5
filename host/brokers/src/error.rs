//! The one error type every broker operation returns.

/// Why a broker operation failed, sorted by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// The broker could not be reached or did not answer in time (connection refused or
    /// lost, timeout, reconnect back-off in progress). Retrying later may succeed.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker answered and refused the operation (publisher nack, missing exchange,
    /// argument mismatch). Retrying the same thing will fail again.
    #[error("rejected by broker: {0}")]
    Rejected(String),
    /// The broker took a `mandatory` message but no queue is bound for its routing key,
    /// so it returned it and kept nothing. Not a failure of the broker: whether it
    /// matters is the caller's call (a topic exchange's subscribers own their queues).
    #[error("unroutable: {0}")]
    Unroutable(String),
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
