//! Translation of librdkafka error codes into `BrokerError`.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::BrokerError;

pub(super) fn map_kafka_error(what: &str, error: &KafkaError) -> BrokerError {
    match error.rdkafka_error_code() {
        Some(code) => map_code(what, code),
        None => BrokerError::Unavailable(format!("{what}: {error}")),
    }
}

pub(super) fn map_code(what: &str, code: RDKafkaErrorCode) -> BrokerError {
    use RDKafkaErrorCode as C;
    match code {
        C::UnknownTopic | C::UnknownTopicOrPartition => BrokerError::Config(format!(
            "{what}: the topic does not exist (create it first): {code}"
        )),
        C::MessageSizeTooLarge
        | C::InvalidMessage
        | C::InvalidRecord
        | C::InvalidMessageSize
        | C::TopicAuthorizationFailed
        | C::ClusterAuthorizationFailed
        | C::InvalidRequiredAcks
        | C::InvalidPartitions
        | C::InvalidReplicationFactor
        | C::InvalidTopic
        | C::InvalidConfig
        | C::PolicyViolation
        | C::UnsupportedVersion => BrokerError::Rejected(format!("{what}: {code}")),
        _ => BrokerError::Unavailable(format!("{what}: {code}")),
    }
}
