//! A guest's outgoing HTTP requests: checked against its
//! `allowed_outbound_hosts`, served in-process for `http://self` and
//! `*.spin.internal`, sent over the network otherwise.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use http_body_util::BodyExt as _;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::app::App;
use crate::outbound::Destination;
use crate::state::ComponentContext;

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

/// Used when the guest does not set its own: wasi-http's defaults (10
/// minutes) would let one dead upstream hold a request for that long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);
const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(30);

pub struct OutboundHttp {
    app: Weak<App>,
    component: Arc<ComponentContext>,
    request_id: Arc<str>,
}

impl OutboundHttp {
    pub fn new(app: Weak<App>, component: Arc<ComponentContext>, request_id: Arc<str>) -> Self {
        Self {
            app,
            component,
            request_id,
        }
    }
}

fn no_io() -> IoFuture {
    Box::new(async { Ok(()) })
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> SendFuture {
        let url = request.uri().to_string();
        let Some(destination) = Destination::parse(&url) else {
            return Box::new(async { Err(Error::HttpRequestUriInvalid) });
        };
        if !self.component.allowed_hosts.allows(&destination) {
            tracing::warn!(
                component = %self.component.id,
                request_id = %self.request_id,
                url = %url,
                "outbound request denied: not in allowed_outbound_hosts"
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }

        if destination.is_self() || destination.chained_component().is_some() {
            let app = self.app.clone();
            let request_id = self.request_id.clone();
            return Box::new(async move {
                let app = app
                    .upgrade()
                    .ok_or(Error::InternalError(Some("host is shutting down".into())))?;
                let response = match destination.chained_component() {
                    Some(component) => app.handle_chained(component, request, request_id).await,
                    None => app.handle(request, request_id, None).await,
                };
                Ok((response, no_io()))
            });
        }

        let mut options = options.unwrap_or_default();
        options.connect_timeout.get_or_insert(CONNECT_TIMEOUT);
        options.first_byte_timeout.get_or_insert(FIRST_BYTE_TIMEOUT);
        options
            .between_bytes_timeout
            .get_or_insert(BETWEEN_BYTES_TIMEOUT);
        Box::new(async move {
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((response.map(|b| b.boxed_unsync()), Box::new(io) as IoFuture))
        })
    }
}
