//! Host side of the Spin interfaces a spin-sdk 5.x component imports
//! (beyond WASI): variables, Redis and PostgreSQL, bound from `wit/`.

pub mod pg_values;
pub mod postgres;
pub mod redis;
pub mod variables;

use wasmtime::component::{HasSelf, Linker};

use crate::state::GuestState;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "sales:platform/spin-imports",
    imports: { default: async | trappable },
    with: {
        "spin:postgres/postgres.connection": postgres::PgConnection,
        "fermyon:spin/redis.connection": redis::RedisConnection,
    },
});

pub fn add_to_linker(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    SpinImports::add_to_linker::<GuestState, HasSelf<GuestState>>(linker, |state| state)
}
