//! `fermyon:spin/redis@2.0.0` over one multiplexed connection per address.

use redis::aio::ConnectionManager;
use redis::{ErrorKind, Value};
use wasmtime::component::Resource;

use crate::state::GuestState;

use super::fermyon::spin::redis::{self as wit, Error, RedisParameter, RedisResult};

/// A guest's handle on a Redis server: a clone of the shared multiplexed
/// connection, so opening one costs nothing after the first.
pub struct RedisConnection {
    connection: ConnectionManager,
}

type Outcome<T> = wasmtime::Result<Result<T, Error>>;

fn error(e: redis::RedisError) -> Error {
    match e.kind() {
        ErrorKind::TypeError => Error::TypeError,
        _ if e.code() == Some("WRONGTYPE") => Error::TypeError,
        _ => Error::Other(e.to_string()),
    }
}

impl GuestState {
    fn redis_connection(
        &mut self,
        resource: &Resource<RedisConnection>,
    ) -> wasmtime::Result<ConnectionManager> {
        Ok(self.table.get(resource)?.connection.clone())
    }

    async fn redis_query<T: redis::FromRedisValue>(
        &mut self,
        resource: &Resource<RedisConnection>,
        command: redis::Cmd,
    ) -> Outcome<T> {
        let mut connection = self.redis_connection(resource)?;
        Ok(command.query_async(&mut connection).await.map_err(error))
    }
}

impl wit::Host for GuestState {}

impl wit::HostConnection for GuestState {
    async fn open(&mut self, address: String) -> Outcome<Resource<RedisConnection>> {
        if !self.component.allowed_hosts.allows_address(&address) {
            tracing::warn!(
                component = %self.component.id,
                request_id = %self.request_id,
                "redis address denied: not in allowed_outbound_hosts"
            );
            return Ok(Err(Error::InvalidAddress));
        }
        let connection = match self.services.redis(&address).await {
            Ok(connection) => connection,
            Err(crate::services::ServiceError::InvalidAddress(_)) => {
                return Ok(Err(Error::InvalidAddress))
            }
            Err(e) => return Ok(Err(Error::Other(e.to_string()))),
        };
        Ok(Ok(self.table.push(RedisConnection { connection })?))
    }

    async fn publish(
        &mut self,
        this: Resource<RedisConnection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Outcome<()> {
        self.redis_query::<()>(
            &this,
            redis::cmd("PUBLISH").arg(channel).arg(payload).to_owned(),
        )
        .await
    }

    async fn get(
        &mut self,
        this: Resource<RedisConnection>,
        key: String,
    ) -> Outcome<Option<Vec<u8>>> {
        self.redis_query(&this, redis::cmd("GET").arg(key).to_owned())
            .await
    }

    async fn set(
        &mut self,
        this: Resource<RedisConnection>,
        key: String,
        value: Vec<u8>,
    ) -> Outcome<()> {
        self.redis_query::<()>(&this, redis::cmd("SET").arg(key).arg(value).to_owned())
            .await
    }

    async fn incr(&mut self, this: Resource<RedisConnection>, key: String) -> Outcome<i64> {
        self.redis_query(&this, redis::cmd("INCR").arg(key).to_owned())
            .await
    }

    async fn del(&mut self, this: Resource<RedisConnection>, keys: Vec<String>) -> Outcome<u32> {
        self.redis_query(&this, redis::cmd("DEL").arg(keys).to_owned())
            .await
    }

    async fn sadd(
        &mut self,
        this: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Outcome<u32> {
        self.redis_query(&this, redis::cmd("SADD").arg(key).arg(values).to_owned())
            .await
    }

    async fn smembers(
        &mut self,
        this: Resource<RedisConnection>,
        key: String,
    ) -> Outcome<Vec<String>> {
        self.redis_query(&this, redis::cmd("SMEMBERS").arg(key).to_owned())
            .await
    }

    async fn srem(
        &mut self,
        this: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Outcome<u32> {
        self.redis_query(&this, redis::cmd("SREM").arg(key).arg(values).to_owned())
            .await
    }

    async fn execute(
        &mut self,
        this: Resource<RedisConnection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Outcome<Vec<RedisResult>> {
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                RedisParameter::Int64(n) => cmd.arg(n),
                RedisParameter::Binary(bytes) => cmd.arg(bytes),
            };
        }
        let value: Result<Value, Error> = self.redis_query(&this, cmd).await?;
        Ok(value.map(|value| {
            let mut results = Vec::new();
            flatten(value, &mut results);
            results
        }))
    }

    async fn drop(&mut self, this: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

/// Spin's `execute` returns a flat list: nested replies (arrays, maps,
/// sets) are flattened in order, as Spin's own host does.
fn flatten(value: Value, out: &mut Vec<RedisResult>) {
    match value {
        Value::Nil => out.push(RedisResult::Nil),
        Value::Int(n) => out.push(RedisResult::Int64(n)),
        Value::BulkString(bytes) => out.push(RedisResult::Binary(bytes)),
        Value::SimpleString(s) => out.push(RedisResult::Status(s)),
        Value::Okay => out.push(RedisResult::Status("OK".to_owned())),
        Value::Array(values) | Value::Set(values) => {
            values.into_iter().for_each(|v| flatten(v, out))
        }
        Value::Map(pairs) => pairs.into_iter().for_each(|(k, v)| {
            flatten(k, out);
            flatten(v, out);
        }),
        Value::Attribute { data, .. } => flatten(*data, out),
        Value::Double(d) => out.push(RedisResult::Binary(d.to_string().into_bytes())),
        Value::Boolean(b) => out.push(RedisResult::Int64(i64::from(b))),
        Value::VerbatimString { text, .. } => out.push(RedisResult::Binary(text.into_bytes())),
        Value::BigNumber(n) => out.push(RedisResult::Binary(n.to_string().into_bytes())),
        Value::Push { data, .. } => data.into_iter().for_each(|v| flatten(v, out)),
        Value::ServerError(e) => out.push(RedisResult::Status(format!("{e:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_replies_are_flattened_in_order() {
        let mut out = Vec::new();
        flatten(
            Value::Array(vec![
                Value::Int(1),
                Value::Nil,
                Value::Array(vec![Value::BulkString(b"x".to_vec()), Value::Okay]),
            ]),
            &mut out,
        );
        assert!(matches!(
            out.as_slice(),
            [RedisResult::Int64(1), RedisResult::Nil, RedisResult::Binary(b), RedisResult::Status(s)]
                if b == b"x" && s == "OK"
        ));
    }
}
