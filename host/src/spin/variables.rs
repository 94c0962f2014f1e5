//! `fermyon:spin/variables@2.0.0` and `spin:variables/variables@3.0.0`: a
//! component reads the variables its manifest entry declares.

use crate::state::GuestState;
use crate::variables::LookupError;

use super::fermyon::spin::variables as v2;
use super::spin::variables::variables as v3;

impl v2::Host for GuestState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, v2::Error>> {
        Ok(self.component.variables.get(&name).map_err(|e| match e {
            LookupError::InvalidName(m) => v2::Error::InvalidName(m),
            LookupError::Undefined(m) => v2::Error::Undefined(m),
        }))
    }
}

impl v3::Host for GuestState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, v3::Error>> {
        Ok(self.component.variables.get(&name).map_err(|e| match e {
            LookupError::InvalidName(m) => v3::Error::InvalidName(m),
            LookupError::Undefined(m) => v3::Error::Undefined(m),
        }))
    }
}
