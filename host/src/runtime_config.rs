//! `runtime-config.toml`, Spin's runtime configuration file.
//!
//! The application needs nothing from it today: variables come from the
//! environment (Spin's default provider, which `sales-host` implements) and
//! the Redis and Postgres addresses are variables. The file is still read
//! strictly, so that a key meant for Spin (a Vault provider, a key-value
//! store) is refused at start-up instead of silently ignored by this host.

use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeConfigError {
    #[error("cannot read runtime config {path:?}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("runtime config {path:?} is not supported by sales-host: {source}")]
    Parse {
        path: std::path::PathBuf,
        source: toml::de::Error,
    },
}

impl RuntimeConfig {
    pub fn load(path: &Path) -> Result<Self, RuntimeConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| RuntimeConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| RuntimeConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_only_is_valid_and_any_key_is_refused() {
        assert!(toml::from_str::<RuntimeConfig>("# nothing\n").is_ok());
        let err = toml::from_str::<RuntimeConfig>("[key_value_store.default]\ntype = \"redis\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("key_value_store"), "{err}");
    }
}
