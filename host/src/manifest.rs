//! `spin.toml`: the subset of Spin's application manifest (version 2) that
//! `sales-host` runs, read strictly so that a typo is an error at start-up
//! instead of a setting silently ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::variables::Template;

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path:?}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid manifest {path:?}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("unsupported spin_manifest_version {0}: only 2 is supported")]
    Version(u32),
    #[error("invalid manifest: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, Variable>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default)]
    pub component: BTreeMap<String, Component>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
}

/// An application variable. Spin requires exactly one of `default` or
/// `required = true`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
    /// `sales-host`'s own trigger: RabbitMQ queues consumed by components
    /// that export `sales:messaging/incoming-handler`.
    #[serde(default)]
    pub amqp: Vec<AmqpTrigger>,
    /// `sales-host`'s own trigger: a component exporting
    /// `sales:messaging/relay`, run when the outbox table has news.
    #[serde(default)]
    pub outbox: Vec<OutboxTrigger>,
}

/// The channel the writers' `wake_outbox_relay()` notifies (migration
/// 0005). It belongs to the database's schema, not to a deployment: a
/// channel set in the manifest would be one nobody notifies, and the relay
/// would wait for its interval every time.
pub const OUTBOX_CHANNEL: &str = "outbox";

/// The transactional outbox's relay: woken by Postgres `NOTIFY` on
/// [`OUTBOX_CHANNEL`] and every `interval_ms` as a safety net, it publishes
/// through the host's broker connections.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxTrigger {
    pub component: String,
    /// The database to LISTEN on, usually `"{{ database_url }}"`.
    pub database: String,
    #[serde(default = "default_relay_interval_ms")]
    pub interval_ms: u64,
    /// Relay runs one host keeps going at once. Each takes rows no other
    /// holds, so while one waits on the brokers the next is already reading:
    /// under load an event waits less for a run to pick it up.
    #[serde(default = "default_relay_concurrency")]
    pub concurrency: u16,
    /// The RabbitMQ broker, usually `"{{ rabbitmq_url }}"`.
    pub amqp_address: String,
    /// The Kafka bootstrap servers, usually `"{{ kafka_brokers }}"`.
    pub kafka_brokers: String,
    /// Topic exchanges declared (durable) at start-up.
    #[serde(default)]
    pub amqp_exchanges: Vec<String>,
    /// Kafka topics created at start-up if missing, with their partition count.
    #[serde(default)]
    pub kafka_topics: Vec<KafkaTopic>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTopic {
    pub name: String,
    pub partitions: i32,
}

fn default_relay_interval_ms() -> u64 {
    1_000
}

fn default_relay_concurrency() -> u16 {
    1
}

/// A queue consumed by a component, with the retry policy of CONTRACT.md.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpTrigger {
    /// The broker, usually a template: `"{{ rabbitmq_url }}"`.
    pub address: String,
    pub queue: String,
    pub component: String,
    /// Delays before each redelivery of a message whose handling failed for
    /// a transient reason; after the last, it goes to `<queue>.dlq`.
    #[serde(default = "default_retry_delays_ms")]
    pub retry_delays_ms: Vec<u64>,
    /// Deliveries handled at once (and unacknowledged) per queue.
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
}

fn default_retry_delays_ms() -> Vec<u64> {
    vec![5_000, 25_000, 125_000]
}

fn default_prefetch() -> u16 {
    32
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    pub route: String,
    pub component: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub source: PathBuf,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub build: Option<ComponentBuild>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentBuild {
    pub command: String,
    #[serde(default)]
    pub workdir: Option<PathBuf>,
    #[serde(default)]
    pub watch: Vec<String>,
}

/// A manifest together with the directory its relative paths start from.
#[derive(Debug, Clone)]
pub struct LoadedManifest {
    pub manifest: Manifest,
    pub dir: PathBuf,
}

impl LoadedManifest {
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_owned(),
            source,
        })?;
        let manifest = Manifest::parse(&text).map_err(|e| match e {
            ManifestError::Parse { source, .. } => ManifestError::Parse {
                path: path.to_owned(),
                source,
            },
            other => other,
        })?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned();
        Ok(Self { manifest, dir })
    }

    /// A component's `source`, resolved against the manifest's directory.
    pub fn source_path(&self, component: &Component) -> PathBuf {
        self.dir.join(&component.source)
    }
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|source| ManifestError::Parse {
            path: PathBuf::new(),
            source,
        })?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Whether any trigger (HTTP route, AMQP queue, outbox relay) runs the
    /// component `id`.
    pub fn triggers_component(&self, id: &str) -> bool {
        self.trigger.http.iter().any(|t| t.component == id)
            || self.trigger.amqp.iter().any(|t| t.component == id)
            || self.trigger.outbox.iter().any(|t| t.component == id)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        if self.spin_manifest_version != 2 {
            return Err(ManifestError::Version(self.spin_manifest_version));
        }
        for (name, variable) in &self.variables {
            check_variable_name(name)?;
            match (&variable.default, variable.required) {
                (Some(_), true) => {
                    return Err(invalid(format!(
                        "variable {name:?} has a default and is required: choose one"
                    )))
                }
                (None, false) => {
                    return Err(invalid(format!(
                        "variable {name:?} needs a default or `required = true`"
                    )))
                }
                _ => {}
            }
        }
        for (id, component) in &self.component {
            for (name, template) in &component.variables {
                check_variable_name(name).map_err(|e| invalid(format!("component {id:?}: {e}")))?;
                let template = Template::parse(template)
                    .map_err(|e| invalid(format!("component {id:?} variable {name:?}: {e}")))?;
                for reference in template.references() {
                    if !self.variables.contains_key(reference) {
                        return Err(invalid(format!(
                            "component {id:?} variable {name:?} refers to undeclared application variable {reference:?}"
                        )));
                    }
                }
            }
        }
        let mut routes = std::collections::HashSet::new();
        for trigger in &self.trigger.http {
            if !self.component.contains_key(&trigger.component) {
                return Err(invalid(format!(
                    "http trigger for route {:?} names unknown component {:?}",
                    trigger.route, trigger.component
                )));
            }
            if !routes.insert(trigger.route.as_str()) {
                return Err(invalid(format!(
                    "route {:?} is declared twice",
                    trigger.route
                )));
            }
        }
        let mut queues = std::collections::HashSet::new();
        for trigger in &self.trigger.amqp {
            if !self.component.contains_key(&trigger.component) {
                return Err(invalid(format!(
                    "amqp trigger for queue {:?} names unknown component {:?}",
                    trigger.queue, trigger.component
                )));
            }
            if trigger.queue.is_empty() || !queues.insert(trigger.queue.as_str()) {
                return Err(invalid(format!(
                    "amqp queue {:?} is empty or declared twice",
                    trigger.queue
                )));
            }
            if trigger.retry_delays_ms.is_empty() || trigger.prefetch == 0 {
                return Err(invalid(format!(
                    "amqp queue {:?}: retry_delays_ms must list at least one delay and prefetch be at least 1",
                    trigger.queue
                )));
            }
            if self
                .trigger
                .http
                .iter()
                .any(|http| http.component == trigger.component)
            {
                return Err(invalid(format!(
                    "component {:?} cannot serve both HTTP and AMQP triggers",
                    trigger.component
                )));
            }
        }
        for trigger in &self.trigger.outbox {
            if !self.component.contains_key(&trigger.component) {
                return Err(invalid(format!(
                    "outbox trigger names unknown component {:?}",
                    trigger.component
                )));
            }
            let elsewhere = self
                .trigger
                .http
                .iter()
                .any(|t| t.component == trigger.component)
                || self
                    .trigger
                    .amqp
                    .iter()
                    .any(|t| t.component == trigger.component);
            if elsewhere || trigger.interval_ms == 0 || trigger.concurrency == 0 {
                return Err(invalid(format!(
                    "outbox relay {:?} must have no other trigger, and an interval_ms and a concurrency above 0",
                    trigger.component
                )));
            }
        }
        Ok(())
    }
}

fn invalid(message: String) -> ManifestError {
    ManifestError::Invalid(message)
}

/// Spin's rule for variable names: lowercase ASCII letters, digits and `_`,
/// starting with a letter.
pub fn check_variable_name(name: &str) -> Result<(), ManifestError> {
    let mut chars = name.chars();
    let valid = matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'));
    if valid {
        Ok(())
    } else {
        Err(invalid(format!(
            "variable name {name:?} must be lowercase letters, digits and `_`, starting with a letter"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[variables]
redis_url = { required = true }
greeting = { default = "hi" }
[[trigger.http]]
route = "/a/..."
component = "a"
[component.a]
source = "a.wasm"
allowed_outbound_hosts = ["redis://*:*"]
[component.a.variables]
redis_url = "{{ redis_url }}"
"#;

    #[test]
    fn a_minimal_manifest_parses() {
        let manifest = Manifest::parse(MINIMAL).unwrap();
        assert_eq!(manifest.trigger.http[0].component, "a");
        assert!(manifest.variables["redis_url"].required);
    }

    #[test]
    fn a_component_no_trigger_names_is_untriggered() {
        let text = format!("{MINIMAL}[component.library]\nsource = \"library.wasm\"\n");
        let manifest = Manifest::parse(&text).unwrap();
        assert!(manifest.triggers_component("a"));
        assert!(!manifest.triggers_component("library"));
    }

    #[test]
    fn an_unknown_key_is_an_error() {
        let text = MINIMAL.replace("source = \"a.wasm\"", "source = \"a.wasm\"\nsourse = 1");
        let err = Manifest::parse(&text).unwrap_err().to_string();
        assert!(err.contains("sourse"), "{err}");
    }

    #[test]
    fn a_trigger_naming_an_unknown_component_is_an_error() {
        let text = MINIMAL.replace("component = \"a\"", "component = \"b\"");
        let err = Manifest::parse(&text).unwrap_err().to_string();
        assert!(err.contains("unknown component \"b\""), "{err}");
    }

    #[test]
    fn a_variable_without_default_or_required_is_an_error() {
        let text = MINIMAL.replace("greeting = { default = \"hi\" }", "greeting = {}");
        assert!(Manifest::parse(&text).is_err());
    }

    #[test]
    fn a_component_variable_must_refer_to_a_declared_variable() {
        let text = MINIMAL.replace("{{ redis_url }}", "{{ redis_host }}");
        let err = Manifest::parse(&text).unwrap_err().to_string();
        assert!(err.contains("redis_host"), "{err}");
    }

    #[test]
    fn amqp_triggers_take_defaults_and_are_checked() {
        let with_amqp = format!(
            "{MINIMAL}\n[[trigger.amqp]]\naddress = \"amqp://x\"\nqueue = \"q\"\ncomponent = \"b\"\n[component.b]\nsource = \"b.wasm\"\n"
        );
        let manifest = Manifest::parse(&with_amqp).unwrap();
        assert_eq!(
            manifest.trigger.amqp[0].retry_delays_ms,
            [5_000, 25_000, 125_000]
        );
        assert!(Manifest::parse(&with_amqp.replace(
            "component = \"b\"\n[component.b]",
            "component = \"c\"\n[component.b]"
        ))
        .is_err());
        let twice = with_amqp.replace(
            "component = \"b\"\n[component.b]",
            "component = \"a\"\n[component.b]",
        );
        assert!(Manifest::parse(&twice)
            .unwrap_err()
            .to_string()
            .contains("both HTTP and AMQP"));
    }

    #[test]
    fn outbox_triggers_run_one_relay_unless_told_and_never_none() {
        let with_outbox = format!(
            "{MINIMAL}\n[[trigger.outbox]]\ncomponent = \"b\"\ndatabase = \"postgres://x\"\namqp_address = \"amqp://x\"\nkafka_brokers = \"k:9092\"\n[component.b]\nsource = \"b.wasm\"\n"
        );
        let manifest = Manifest::parse(&with_outbox).unwrap();
        assert_eq!(manifest.trigger.outbox[0].concurrency, 1);
        let three = with_outbox.replace(
            "component = \"b\"\n",
            "component = \"b\"\nconcurrency = 3\n",
        );
        assert_eq!(
            Manifest::parse(&three).unwrap().trigger.outbox[0].concurrency,
            3
        );
        let none = with_outbox.replace(
            "component = \"b\"\n",
            "component = \"b\"\nconcurrency = 0\n",
        );
        assert!(Manifest::parse(&none)
            .unwrap_err()
            .to_string()
            .contains("concurrency above 0"));
        // The channel is the migrations' (OUTBOX_CHANNEL): one set here
        // would never be notified.
        let channel = with_outbox.replace(
            "component = \"b\"\n",
            "component = \"b\"\nnotify_channel = \"orders\"\n",
        );
        assert!(Manifest::parse(&channel)
            .unwrap_err()
            .to_string()
            .contains("notify_channel"));
    }

    #[test]
    fn variable_names_follow_spins_rule() {
        assert!(check_variable_name("database_url").is_ok());
        assert!(check_variable_name("Database_url").is_err());
        assert!(check_variable_name("1abc").is_err());
        assert!(check_variable_name("a-b").is_err());
    }
}
