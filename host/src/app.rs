//! The running application: its routes and pre-instantiated components, and
//! how one HTTP request becomes one fresh guest instance.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use http::{HeaderName, HeaderValue, Request, Response};
use tracing::Instrument as _;
use wasmtime::component::Linker;
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiBody, WasiHttpView as _};

use crate::brokers::Brokers;
use crate::host_error::HostError;
use crate::messaging::{HandleMessageError, Message, MessageHandlerPre, OutboxRelayPre};
use crate::ops::metrics::metrics;
use crate::ops::Ops;
use crate::outbound_http::OutboundHttp;
use crate::routing::{RouteMatch, Router};
use crate::services::Services;
use crate::state::{ComponentContext, GuestState};

/// A component ready to instantiate, as the trigger that runs it needs it.
pub struct LoadedComponent {
    pub entry: Entry,
    pub context: Arc<ComponentContext>,
}

pub enum Entry {
    /// Exports `wasi:http/incoming-handler` (HTTP triggers).
    Http(ProxyPre<GuestState>),
    /// Exports `sales:messaging/incoming-handler` (broker triggers).
    Messages(MessageHandlerPre<GuestState>),
    /// Exports `sales:messaging/relay` and publishes through `brokers`.
    Relay {
        pre: OutboxRelayPre<GuestState>,
        brokers: Arc<Brokers>,
    },
}

pub struct App {
    this: Weak<App>,
    engine: Engine,
    router: Router,
    components: HashMap<String, LoadedComponent>,
    services: Arc<Services>,
    request_timeout: Duration,
    ops: Ops,
}

/// Everything needed to build an [`App`], already validated.
pub struct AppParts {
    pub engine: Engine,
    pub router: Router,
    pub components: HashMap<String, LoadedComponent>,
    pub services: Arc<Services>,
    pub request_timeout: Duration,
    pub ops: Ops,
}

/// Spin's request headers, set by the host only: a client's own copies are
/// removed so that a guest can trust them.
const SPIN_HEADER_PREFIX: &str = "spin-";

/// The fixed names among them, built once: parsing a name on every
/// request cost more than the rest of setting it.
mod spin_header {
    use http::HeaderName;

    pub const FULL_URL: HeaderName = HeaderName::from_static("spin-full-url");
    pub const PATH_INFO: HeaderName = HeaderName::from_static("spin-path-info");
    pub const MATCHED_ROUTE: HeaderName = HeaderName::from_static("spin-matched-route");
    pub const RAW_COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-raw-component-route");
    pub const COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-component-route");
    pub const BASE_PATH: HeaderName = HeaderName::from_static("spin-base-path");
    pub const CLIENT_ADDR: HeaderName = HeaderName::from_static("spin-client-addr");
    /// How many of these a request gets at most.
    pub const COUNT: usize = 7;
}

impl App {
    pub fn new(parts: AppParts) -> Arc<Self> {
        Arc::new_cyclic(|this| Self {
            this: this.clone(),
            engine: parts.engine,
            router: parts.router,
            components: parts.components,
            services: parts.services,
            request_timeout: parts.request_timeout,
            ops: parts.ops,
        })
    }

    /// The connections the host holds for its guests.
    pub fn services(&self) -> Arc<Services> {
        self.services.clone()
    }

    /// The host's operational routes (`/health`, `/metrics`, `/openapi.json`).
    pub fn ops(&self) -> &Ops {
        &self.ops
    }

    /// How a loaded component is run, if there is one by that id.
    pub fn entry(&self, component_id: &str) -> Option<&Entry> {
        self.components.get(component_id).map(|c| &c.entry)
    }

    /// The linker every component is pre-instantiated with: WASI 0.2,
    /// wasi-http and the Spin interfaces.
    pub fn linker(engine: &Engine) -> anyhow::Result<Linker<GuestState>> {
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        crate::spin::add_to_linker(&mut linker)?;
        crate::messaging::relay::sales::messaging::producer::add_to_linker::<
            GuestState,
            wasmtime::component::HasSelf<GuestState>,
        >(&mut linker, |state| state)?;
        Ok(linker)
    }

    /// Routes a request by its path and runs the matching component.
    pub async fn handle(
        &self,
        request: Request<WasiBody>,
        request_id: Arc<str>,
        client: Option<SocketAddr>,
    ) -> Response<WasiBody> {
        self.handle_routed(request, request_id, client).await.0
    }

    /// Like [`App::handle`], also telling which route pattern answered
    /// (`unmatched` when none did): the label of the request's metrics.
    pub async fn handle_routed(
        &self,
        request: Request<WasiBody>,
        request_id: Arc<str>,
        client: Option<SocketAddr>,
    ) -> (Response<WasiBody>, &str) {
        let path = request.uri().path().to_owned();
        let Some(route) = self.router.route(&path) else {
            return (HostError::NoRoute.into_response(), "unmatched");
        };
        let label = route.raw_route;
        let request = with_spin_headers(request, &route, client);
        (self.run(route.component, request, request_id).await, label)
    }

    /// Spin's service chaining: `http://<component>.spin.internal/...` goes
    /// straight to that component, whatever its route.
    pub async fn handle_chained(
        &self,
        component: &str,
        request: Request<WasiBody>,
        request_id: Arc<str>,
    ) -> Response<WasiBody> {
        let path = request.uri().path().to_owned();
        let Some(route) = self.router.chained(component, &path) else {
            return HostError::NoRoute.into_response();
        };
        let request = with_spin_headers(request, &route, None);
        self.run(route.component, request, request_id).await
    }

    async fn run(
        &self,
        component_id: &str,
        request: Request<WasiBody>,
        request_id: Arc<str>,
    ) -> Response<WasiBody> {
        let Some(component) = self.components.get(component_id) else {
            return HostError::NoRoute.into_response();
        };
        match self.invoke(component, request, request_id.clone()).await {
            Ok(response) => response,
            Err(error) => {
                tracing::error!(
                    component = %component_id,
                    request_id = %request_id,
                    error = %format!("{error:#}"),
                    "request failed in the host"
                );
                error.into_response()
            }
        }
    }

    /// A fresh store for one request or message. The guest yields to other
    /// tasks at every epoch tick and is interrupted once its deadline has
    /// passed, so one runaway guest can neither hog a worker thread nor run
    /// forever.
    fn new_store(&self, component: &LoadedComponent, request_id: &Arc<str>) -> Store<GuestState> {
        let outbound = OutboundHttp::new(
            self.this.clone(),
            component.context.clone(),
            request_id.clone(),
        );
        let brokers = match &component.entry {
            Entry::Relay { brokers, .. } => Some(brokers.clone()),
            _ => None,
        };
        let state = GuestState::new(
            component.context.clone(),
            self.services.clone(),
            outbound,
            request_id.clone(),
            brokers,
        );
        let mut store = Store::new(&self.engine, state);
        let deadline = Instant::now() + self.request_timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        store
    }

    /// Runs the message component `component_id` on one message. The outer
    /// error is the host's (unknown component, a trap, the deadline); the
    /// inner one is the component's own verdict.
    pub async fn handle_message(
        &self,
        component_id: &str,
        message: Message,
        request_id: Arc<str>,
    ) -> Result<Result<(), HandleMessageError>, HostError> {
        let Some(component) = self.components.get(component_id) else {
            return Err(HostError::Internal(anyhow::anyhow!(
                "no component {component_id:?}"
            )));
        };
        let Entry::Messages(pre) = &component.entry else {
            return Err(HostError::Internal(anyhow::anyhow!(
                "component {component_id:?} does not handle messages"
            )));
        };
        let mut store = self.new_store(component, &request_id);
        let run = async {
            let started = Instant::now();
            let handler = pre.instantiate_async(&mut store).await?;
            observe_instantiation(component_id, started);
            handler
                .sales_messaging_incoming_handler()
                .call_handle(&mut store, &message)
                .await
        };
        match tokio::time::timeout(self.request_timeout, run).await {
            Ok(Ok(verdict)) => Ok(verdict),
            Ok(Err(trap)) => Err(HostError::Internal(trap.into())),
            Err(_) => Err(HostError::Timeout(self.request_timeout)),
        }
    }

    /// Runs the outbox relay `component_id` once: how many events it
    /// published, or why it stopped.
    pub async fn run_relay(&self, component_id: &str) -> Result<Result<u32, String>, HostError> {
        let Some(component) = self.components.get(component_id) else {
            return Err(HostError::Internal(anyhow::anyhow!(
                "no component {component_id:?}"
            )));
        };
        let Entry::Relay { pre, .. } = &component.entry else {
            return Err(HostError::Internal(anyhow::anyhow!(
                "component {component_id:?} is not an outbox relay"
            )));
        };
        let request_id: Arc<str> = Arc::from(format!("relay-{}", uuid::Uuid::new_v4()));
        let mut store = self.new_store(component, &request_id);
        let run = async {
            let started = Instant::now();
            let relay = pre.instantiate_async(&mut store).await?;
            observe_instantiation(component_id, started);
            relay.sales_messaging_relay().call_run(&mut store).await
        };
        match tokio::time::timeout(self.request_timeout, run).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(trap)) => Err(HostError::Internal(trap.into())),
            Err(_) => Err(HostError::Timeout(self.request_timeout)),
        }
    }

    async fn invoke(
        &self,
        component: &LoadedComponent,
        request: Request<WasiBody>,
        request_id: Arc<str>,
    ) -> Result<Response<WasiBody>, HostError> {
        let Entry::Http(pre) = &component.entry else {
            return Err(HostError::NoRoute);
        };
        let mut store = self.new_store(component, &request_id);

        let (sender, receiver) = tokio::sync::oneshot::channel();
        let request = ensure_authority(request);
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(|e| HostError::Internal(e.into()))?;
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(|e| HostError::Internal(e.into()))?;

        let pre = pre.clone();
        let component_id = component.context.id.clone();
        let task_request_id = request_id.clone();
        let guest = async move {
            let result = async {
                let started = Instant::now();
                let proxy = pre.instantiate_async(&mut store).await?;
                observe_instantiation(&component_id, started);
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, incoming, outparam)
                    .await
            }
            .await;
            if let Err(error) = &result {
                tracing::error!(
                    component = %component_id,
                    request_id = %task_request_id,
                    error = %format!("{error:?}"),
                    "guest failed"
                );
            }
        }
        .in_current_span();

        // The guest runs on this task until it answers: most guests answer
        // and return in one go, and a task of their own would cost a spawn
        // and a hand-over between threads on every request. One that answers
        // and goes on (streaming its body) finishes on a task of its own.
        let answer = tokio::time::timeout(self.request_timeout, async move {
            let mut guest = Box::pin(guest);
            let mut receiver = receiver;
            tokio::select! {
                biased;
                answer = &mut receiver => {
                    tokio::spawn(guest);
                    answer
                }
                () = &mut guest => receiver.await,
            }
        })
        .await;

        match answer {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(code))) => Err(HostError::GuestError(format!("{code:?}"))),
            // The guest returned or trapped without answering.
            Ok(Err(_)) => Err(HostError::NoResponse),
            // Dropping the guest's future (still on this task) stops it.
            Err(_) => Err(HostError::Timeout(self.request_timeout)),
        }
    }
}

fn observe_instantiation(component_id: &str, started: Instant) {
    metrics()
        .instantiation
        .with_label_values(&[component_id])
        .observe(started.elapsed().as_secs_f64());
}

/// wasi-http needs an authority; HTTP/1.0 clients may send no `Host`.
fn ensure_authority(mut request: Request<WasiBody>) -> Request<WasiBody> {
    if request.uri().authority().is_none() && !request.headers().contains_key(http::header::HOST) {
        request
            .headers_mut()
            .insert(http::header::HOST, HeaderValue::from_static("localhost"));
    }
    request
}

fn with_spin_headers(
    mut request: Request<WasiBody>,
    route: &RouteMatch<'_>,
    client: Option<SocketAddr>,
) -> Request<WasiBody> {
    let host = request
        .uri()
        .authority()
        .map(|a| a.to_string())
        .or_else(|| {
            request
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let full_url = format!("http://{host}{path_and_query}");

    let headers = request.headers_mut();
    // Empty (and unallocated) unless a client sent some.
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(SPIN_HEADER_PREFIX))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
    // Room for all of them at once, rather than a rehash halfway.
    headers.reserve(spin_header::COUNT + route.params.len());
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(spin_header::FULL_URL, &full_url);
    set(spin_header::PATH_INFO, &route.path_info);
    set(spin_header::MATCHED_ROUTE, route.raw_route);
    set(spin_header::RAW_COMPONENT_ROUTE, route.raw_route);
    set(spin_header::COMPONENT_ROUTE, &route.component_route);
    set(spin_header::BASE_PATH, "/");
    if let Some(client) = client {
        set(spin_header::CLIENT_ADDR, &client.to_string());
    }
    for (name, value) in &route.params {
        if let Ok(name) = HeaderName::from_bytes(format!("spin-path-match-{name}").as_bytes()) {
            set(name, value);
        }
    }
    request
}
