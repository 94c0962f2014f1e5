//! The component's settings, from its Spin variables, read on every run: a
//! missing one fails the run (the host logs it and the next wake-up tries
//! again), never a guess. Values are never put in error text: the database
//! URL holds a password.

pub struct Config {
    pub database_url: String,
}

fn variable(name: &str) -> Result<String, String> {
    spin_sdk::variables::get(name).map_err(|e| format!("configuration: variable {name:?}: {e:?}"))
}

impl Config {
    pub fn load() -> Result<Self, String> {
        Ok(Self {
            database_url: variable("database_url")?,
        })
    }
}
