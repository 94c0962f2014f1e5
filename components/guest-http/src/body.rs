//! Reading a request body without holding more than a limit of it in memory.

use futures::{Stream, StreamExt};

/// Largest request body the components accept, in bytes (the contract's 16 KiB).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// More than `limit` bytes were declared or sent.
    TooLarge { limit: usize },
    /// The client did not finish sending it.
    Unreadable(String),
}

/// Refuses a body whose declared `content-length` is over `limit` before
/// anything is read.
pub fn check_declared_length(content_length: Option<&str>, limit: usize) -> Result<(), BodyError> {
    match content_length.map(|v| v.trim().parse::<u64>()) {
        Some(Ok(length)) if length > limit as u64 => Err(BodyError::TooLarge { limit }),
        _ => Ok(()),
    }
}

/// Collects `chunks` into one buffer, stopping with
/// [`BodyError::TooLarge`] as soon as more than `limit` bytes arrive.
/// A failing stream is a body the client did not finish sending.
pub async fn collect_limited<S, E>(chunks: S, limit: usize) -> Result<Vec<u8>, BodyError>
where
    S: Stream<Item = Result<Vec<u8>, E>>,
    E: std::fmt::Debug,
{
    let mut chunks = std::pin::pin!(chunks);
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk
            .map_err(|e| BodyError::Unreadable(format!("request body could not be read: {e:?}")))?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use futures::stream;

    use super::*;

    fn chunks(sizes: &[usize]) -> impl Stream<Item = Result<Vec<u8>, ()>> {
        stream::iter(sizes.iter().map(|&n| Ok(vec![b'x'; n])).collect::<Vec<_>>())
    }

    #[test]
    fn a_body_up_to_the_limit_is_collected_whole() {
        let body = block_on(collect_limited(chunks(&[10, 6]), 16)).unwrap();
        assert_eq!(body.len(), 16);
        let body = block_on(collect_limited(chunks(&[]), 16)).unwrap();
        assert!(body.is_empty());
    }

    #[test]
    fn a_body_over_the_limit_is_too_large() {
        let err = block_on(collect_limited(chunks(&[10, 7]), 16)).unwrap_err();
        assert_eq!(err, BodyError::TooLarge { limit: 16 });
    }

    #[test]
    fn reading_stops_at_the_first_chunk_past_the_limit() {
        let endless = stream::repeat_with(|| Ok::<_, ()>(vec![0u8; 1024]));
        let err = block_on(collect_limited(endless, MAX_BODY_BYTES)).unwrap_err();
        assert_eq!(
            err,
            BodyError::TooLarge {
                limit: MAX_BODY_BYTES
            }
        );
    }

    #[test]
    fn a_failing_body_stream_is_a_validation_error() {
        let failing = stream::iter(vec![Ok(vec![1u8]), Err("reset")]);
        let err = block_on(collect_limited(failing, 16)).unwrap_err();
        assert!(matches!(err, BodyError::Unreadable(_)), "{err:?}");
    }

    #[test]
    fn a_declared_length_over_the_limit_is_too_large() {
        assert_eq!(
            check_declared_length(Some("16385"), MAX_BODY_BYTES),
            Err(BodyError::TooLarge {
                limit: MAX_BODY_BYTES
            })
        );
        assert_eq!(check_declared_length(Some("16384"), MAX_BODY_BYTES), Ok(()));
        assert_eq!(check_declared_length(None, MAX_BODY_BYTES), Ok(()));
        // An unparsable length is left to the body reader to judge.
        assert_eq!(check_declared_length(Some("lots"), MAX_BODY_BYTES), Ok(()));
    }
}
