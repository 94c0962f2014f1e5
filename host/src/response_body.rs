//! Small response bodies, sent in one piece.
//!
//! A guest writes its body through a stream, so hyper would send it chunked:
//! headers, each chunk and the final chunk in separate writes. Most of this
//! service's bodies are a few hundred bytes, finished by the time the guest
//! returns: collecting them first lets hyper send the whole response, with a
//! `content-length`, in one write (measured: bench/product-catalog.sh). A body
//! that is larger, or carries trailers, or fails, is passed on as it came.

use bytes::{Bytes, BytesMut};
use http::Response;
use http_body_util::{BodyExt as _, BodyStream, Full, StreamBody};
use hyper::body::Frame;
use wasmtime_wasi_http::WasiBody;

/// Bodies up to this size are collected before the response is sent.
const SMALL_BODY_BYTES: usize = 64 * 1024;

/// The response, with its whole body when it was small enough to collect
/// (the host reads error codes from it for the metrics).
pub async fn coalesce_small_body(
    response: Response<WasiBody>,
) -> (Response<WasiBody>, Option<Bytes>) {
    let (parts, mut body) = response.into_parts();
    let mut collected = BytesMut::new();
    loop {
        match body.frame().await {
            None => {
                let collected = collected.freeze();
                let whole = Full::new(collected.clone()).map_err(|never| match never {});
                return (
                    Response::from_parts(parts, whole.boxed_unsync()),
                    Some(collected),
                );
            }
            Some(Ok(frame)) if frame.is_data() => {
                let data = frame.into_data().unwrap_or_default();
                collected.extend_from_slice(&data);
                if collected.len() > SMALL_BODY_BYTES {
                    return (
                        Response::from_parts(parts, prefixed(collected.freeze(), None, body)),
                        None,
                    );
                }
            }
            // Trailers or an error: send what came so far, then this frame,
            // then whatever follows, unchanged.
            Some(other) => {
                return (
                    Response::from_parts(parts, prefixed(collected.freeze(), Some(other), body)),
                    None,
                );
            }
        }
    }
}

fn prefixed(
    prefix: Bytes,
    next: Option<Result<Frame<Bytes>, wasmtime_wasi_http::Error>>,
    rest: WasiBody,
) -> WasiBody {
    let head = std::iter::once(Ok(Frame::data(prefix))).chain(next);
    let frames =
        futures::stream::StreamExt::chain(futures::stream::iter(head), BodyStream::new(rest));
    StreamBody::new(frames).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Body as _;

    fn streamed(chunks: Vec<&'static [u8]>) -> Response<WasiBody> {
        let frames = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, wasmtime_wasi_http::Error>(Frame::data(Bytes::from_static(c)))),
        );
        Response::new(StreamBody::new(frames).boxed_unsync())
    }

    #[tokio::test]
    async fn a_small_streamed_body_becomes_one_sized_body() {
        let (response, collected) = coalesce_small_body(streamed(vec![b"{\"a\":", b"1}"])).await;
        assert_eq!(collected.as_deref(), Some(&b"{\"a\":1}"[..]));
        let body = response.into_body();
        assert_eq!(body.size_hint().exact(), Some(7));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "{\"a\":1}");
    }

    #[tokio::test]
    async fn a_large_body_is_passed_on_whole_and_in_order() {
        const CHUNK: &[u8] = &[b'x'; 40 * 1024];
        let (response, collected) = coalesce_small_body(streamed(vec![CHUNK, CHUNK, b"end"])).await;
        assert_eq!(collected, None);
        let body = response.into_body();
        assert_eq!(body.size_hint().exact(), None);
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len(), 80 * 1024 + 3);
        assert!(bytes.ends_with(b"end"));
    }

    #[tokio::test]
    async fn an_error_after_some_data_still_reaches_the_client() {
        let frames = futures::stream::iter(vec![
            Ok(Frame::data(Bytes::from_static(b"partial"))),
            Err(wasmtime_wasi_http::Error::HttpResponseIncomplete),
        ]);
        let (response, _) =
            coalesce_small_body(Response::new(StreamBody::new(frames).boxed_unsync())).await;
        assert!(response.into_body().collect().await.is_err());
    }
}
