//! `allowed_outbound_hosts`: which addresses a component may reach, in Spin's
//! syntax (`scheme://host:port`, with `*` for any scheme, host or port,
//! `*.suffix` hosts, and `self` for the application itself).

use url::Url;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allowed_outbound_hosts entry {entry:?}: {reason}")]
pub struct AllowedHostError {
    entry: String,
    reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Vec<AllowedHost>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    scheme: Pattern,
    host: HostPattern,
    port: Pattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Any,
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.example.com`: any host ending in `.example.com`.
    Suffix(String),
}

/// Where a guest wants to go, parsed from its URL or connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Destination {
    pub fn parse(address: &str) -> Option<Self> {
        let url = Url::parse(address).ok()?;
        let scheme = url.scheme().to_ascii_lowercase();
        let host = url
            .host_str()?
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        let port = url.port().or_else(|| default_port(&scheme))?;
        Some(Self { scheme, host, port })
    }

    /// Whether this is the application itself (`http://self`), which is served
    /// in-process rather than over the network.
    pub fn is_self(&self) -> bool {
        self.host == "self"
    }

    /// A `<component>.spin.internal` destination: the named component,
    /// served in-process (Spin's service chaining).
    pub fn chained_component(&self) -> Option<&str> {
        self.host.strip_suffix(".spin.internal")
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" => 80,
        "https" => 443,
        "postgres" | "postgresql" => 5432,
        "redis" | "rediss" => 6379,
        "mysql" => 3306,
        "mqtt" => 1883,
        "amqp" => 5672,
        "amqps" => 5671,
        _ => return None,
    })
}

impl AllowedHosts {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, AllowedHostError> {
        entries
            .iter()
            .map(|entry| AllowedHost::parse(entry.as_ref()))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn allows(&self, destination: &Destination) -> bool {
        self.0.iter().any(|allowed| allowed.matches(destination))
    }

    pub fn allows_address(&self, address: &str) -> bool {
        Destination::parse(address).is_some_and(|d| self.allows(&d))
    }
}

impl AllowedHost {
    fn parse(entry: &str) -> Result<Self, AllowedHostError> {
        let error = |reason: &str| AllowedHostError {
            entry: entry.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = entry
            .split_once("://")
            .ok_or_else(|| error("needs a scheme, e.g. `https://example.com`"))?;
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return Err(error("must not have a path"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => {
                (host, Some(port))
            }
            _ => (rest, None),
        };
        if host.is_empty() {
            return Err(error("needs a host"));
        }
        let scheme = match scheme {
            "*" => Pattern::Any,
            s if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '+') => {
                Pattern::Exact(s.to_ascii_lowercase())
            }
            _ => return Err(error("invalid scheme")),
        };
        let port = match port {
            Some("*") => Pattern::Any,
            Some(p) => Pattern::Exact(
                p.parse::<u16>()
                    .map_err(|_| error("invalid port"))?
                    .to_string(),
            ),
            None if host == "self" => Pattern::Any,
            None => match &scheme {
                Pattern::Exact(s) => Pattern::Exact(
                    default_port(s)
                        .ok_or_else(|| error("needs a port: the scheme has no default"))?
                        .to_string(),
                ),
                Pattern::Any => return Err(error("needs a port when the scheme is `*`")),
            },
        };
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPattern::Suffix(format!(".{suffix}"))
        } else if host.contains('*') {
            return Err(error(
                "`*` may only stand for a whole host or its leading labels",
            ));
        } else {
            HostPattern::Exact(host)
        };
        Ok(Self { scheme, host, port })
    }

    fn matches(&self, destination: &Destination) -> bool {
        let scheme = match &self.scheme {
            Pattern::Any => true,
            Pattern::Exact(s) => {
                s == &destination.scheme
                    || (s == "postgres" && destination.scheme == "postgresql")
                    || (s == "postgresql" && destination.scheme == "postgres")
            }
        };
        let host = match &self.host {
            // `*` means any host on the network; the application itself must
            // be named (`self`) to be reachable.
            HostPattern::Any => !destination.is_self(),
            HostPattern::Exact(h) => h == &destination.host,
            HostPattern::Suffix(suffix) => destination.host.ends_with(suffix.as_str()),
        };
        let port = match &self.port {
            Pattern::Any => true,
            Pattern::Exact(p) => p == &destination.port.to_string(),
        };
        scheme && host && port
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(entries).unwrap()
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        assert!(!allowed(&[]).allows_address("http://example.com/"));
    }

    #[test]
    fn exact_host_and_default_port() {
        let hosts = allowed(&["https://example.com"]);
        assert!(hosts.allows_address("https://example.com/a?b"));
        assert!(hosts.allows_address("https://EXAMPLE.com:443/"));
        assert!(!hosts.allows_address("https://example.com:8443/"));
        assert!(!hosts.allows_address("http://example.com/"));
        assert!(!hosts.allows_address("https://evil.example.com/"));
    }

    #[test]
    fn wildcards_for_scheme_host_and_port() {
        let hosts = allowed(&["postgres://*:*", "*://cache.local:6379"]);
        assert!(hosts.allows_address("postgres://root@127.0.0.1:5432/db"));
        assert!(hosts.allows_address("postgresql://root@db:6000/db"));
        assert!(hosts.allows_address("redis://cache.local:6379"));
        assert!(!hosts.allows_address("redis://127.0.0.1:6379"));
    }

    #[test]
    fn suffix_hosts_match_subdomains_only() {
        let hosts = allowed(&["http://*.spin.internal"]);
        assert!(hosts.allows_address("http://orders-api.spin.internal/x"));
        assert!(!hosts.allows_address("http://spin.internal/x"));
    }

    #[test]
    fn self_must_be_named() {
        assert!(!allowed(&["http://*:*"]).allows_address("http://self/x"));
        assert!(allowed(&["http://self"]).allows_address("http://self/x"));
    }

    #[test]
    fn invalid_entries_are_rejected() {
        for entry in [
            "example.com",
            "https://example.com/path",
            "https://exa*mple.com",
            "https://example.com:99999",
            "foo://example.com",
            "*://example.com",
        ] {
            assert!(
                AllowedHosts::parse(&[entry]).is_err(),
                "{entry} should be rejected"
            );
        }
    }

    #[test]
    fn destinations_know_self_and_chained_components() {
        let chained = Destination::parse("http://product-catalog.spin.internal/p").unwrap();
        assert_eq!(chained.chained_component(), Some("product-catalog"));
        assert!(Destination::parse("http://self/p").unwrap().is_self());
        assert_eq!(Destination::parse("not a url"), None);
    }
}
