//! What one guest instance sees: the data of a wasmtime `Store`, made fresh
//! for every request.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::brokers::Brokers;
use crate::guest_log::{GuestLog, Stream};
use crate::outbound::AllowedHosts;
use crate::outbound_http::OutboundHttp;
use crate::services::Services;
use crate::variables::ComponentVariables;

/// A component's settings from the manifest, resolved once at start-up.
pub struct ComponentContext {
    pub id: Arc<str>,
    pub allowed_hosts: AllowedHosts,
    pub variables: ComponentVariables,
    pub environment: Vec<(String, String)>,
}

pub struct GuestState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    outbound: OutboundHttp,
    pub(crate) component: Arc<ComponentContext>,
    pub(crate) services: Arc<Services>,
    pub(crate) request_id: Arc<str>,
    /// The outbox relay's broker connections; `None` for other components.
    pub(crate) brokers: Option<Arc<Brokers>>,
}

impl GuestState {
    pub fn new(
        component: Arc<ComponentContext>,
        services: Arc<Services>,
        outbound: OutboundHttp,
        request_id: Arc<str>,
        brokers: Option<Arc<Brokers>>,
    ) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.envs(&component.environment)
            .stdout(GuestLog::new(
                component.id.clone(),
                request_id.clone(),
                Stream::Stdout,
            ))
            .stderr(GuestLog::new(
                component.id.clone(),
                request_id.clone(),
                Stream::Stderr,
            ))
            // Components reach the network only through the host's
            // interfaces, which enforce `allowed_outbound_hosts`.
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        Self {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            outbound,
            component,
            services,
            request_id,
            brokers,
        }
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for GuestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}
