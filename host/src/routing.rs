//! Spin's HTTP routing: exact routes, `:name` segments and trailing `/...`
//! wildcards, the most specific match winning.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route {route:?}: {reason}")]
pub struct RouteError {
    route: String,
    reason: &'static str,
}

#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<Route>,
}

#[derive(Debug, Clone)]
struct Route {
    /// As written in `spin.toml`, e.g. `/product-service/...`.
    raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
    component: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// The outcome of routing a request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    pub component: &'a str,
    /// The route as written, for `spin-matched-route`.
    pub raw_route: &'a str,
    /// The route without its wildcard, for `spin-component-route`.
    pub component_route: String,
    /// The part of the path after the component route, for `spin-path-info`.
    pub path_info: String,
    pub params: BTreeMap<String, String>,
}

impl Router {
    pub fn new<'a>(
        routes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, RouteError> {
        let routes = routes
            .into_iter()
            .map(|(route, component)| Route::parse(route, component))
            .collect::<Result<_, _>>()?;
        Ok(Self { routes })
    }

    pub fn route<'a>(&'a self, path: &str) -> Option<RouteMatch<'a>> {
        let path_segments: Vec<&str> = split(path);
        self.routes
            .iter()
            .filter_map(|route| route.matches(&path_segments).map(|m| (route, m)))
            .max_by_key(|(route, _)| route.specificity())
            .map(|(route, (params, rest))| RouteMatch {
                component: &route.component,
                raw_route: &route.raw,
                component_route: route.component_route(),
                path_info: rest,
                params,
            })
    }
}

impl Router {
    /// Spin's service chaining addresses a component, not a route: the
    /// whole path is the component's path info.
    pub fn chained<'a>(&'a self, component: &str, path: &str) -> Option<RouteMatch<'a>> {
        let route = self.routes.iter().find(|r| r.component == component)?;
        Some(RouteMatch {
            component: &route.component,
            raw_route: &route.raw,
            component_route: route.component_route(),
            path_info: path.to_owned(),
            params: BTreeMap::new(),
        })
    }
}

fn split(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

impl Route {
    fn parse(raw: &str, component: &str) -> Result<Self, RouteError> {
        let error = |reason| RouteError {
            route: raw.to_owned(),
            reason,
        };
        if !raw.starts_with('/') {
            return Err(error("must start with `/`"));
        }
        let mut parts = split(raw);
        let wildcard = parts.last() == Some(&"...");
        if wildcard {
            parts.pop();
        }
        let segments = parts
            .into_iter()
            .map(|part| {
                if part == "..." {
                    Err(error("`...` may only end a route"))
                } else if let Some(name) = part.strip_prefix(':') {
                    if name.is_empty() {
                        Err(error("a `:` segment needs a name"))
                    } else {
                        Ok(Segment::Param(name.to_owned()))
                    }
                } else {
                    Ok(Segment::Literal(part.to_owned()))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            raw: raw.to_owned(),
            segments,
            wildcard,
            component: component.to_owned(),
        })
    }

    /// Exact routes beat wildcards; then more literal segments, then more
    /// segments of any kind, win.
    fn specificity(&self) -> (bool, usize, usize) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        (!self.wildcard, literals, self.segments.len())
    }

    fn matches(&self, path: &[&str]) -> Option<(BTreeMap<String, String>, String)> {
        if path.len() < self.segments.len() || (!self.wildcard && path.len() != self.segments.len())
        {
            return None;
        }
        let mut params = BTreeMap::new();
        for (segment, actual) in self.segments.iter().zip(path) {
            match segment {
                Segment::Literal(expected) if expected == actual => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => {
                    params.insert(name.clone(), (*actual).to_owned());
                }
            }
        }
        let rest = &path[self.segments.len()..];
        let path_info = if rest.is_empty() {
            String::new()
        } else {
            format!("/{}", rest.join("/"))
        };
        Some((params, path_info))
    }

    fn component_route(&self) -> String {
        self.raw
            .strip_suffix("/...")
            .unwrap_or(&self.raw)
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new([
            ("/health", "health"),
            ("/api/v1/orders/...", "orders"),
            ("/api/v1/orders/special", "special"),
            ("/api/...", "api"),
            ("/products/:id", "product"),
            ("/...", "fallback"),
        ])
        .unwrap()
    }

    #[test]
    fn exact_routes_match_only_their_path() {
        let router = router();
        let m = router.route("/health").unwrap();
        assert_eq!(m.component, "health");
        assert_eq!(m.path_info, "");
        assert_eq!(router.route("/health/x").unwrap().component, "fallback");
    }

    #[test]
    fn the_longest_wildcard_wins_and_yields_path_info() {
        let router = router();
        let m = router.route("/api/v1/orders/123").unwrap();
        assert_eq!(m.component, "orders");
        assert_eq!(m.raw_route, "/api/v1/orders/...");
        assert_eq!(m.component_route, "/api/v1/orders");
        assert_eq!(m.path_info, "/123");
        assert_eq!(router.route("/api/v2").unwrap().component, "api");
    }

    #[test]
    fn a_wildcard_matches_its_own_base() {
        let router = router();
        let m = router.route("/api/v1/orders").unwrap();
        assert_eq!(m.component, "orders");
        assert_eq!(m.path_info, "");
    }

    #[test]
    fn exact_beats_wildcard() {
        assert_eq!(
            router().route("/api/v1/orders/special").unwrap().component,
            "special"
        );
    }

    #[test]
    fn params_are_captured() {
        let router = router();
        let m = router.route("/products/abc").unwrap();
        assert_eq!(m.component, "product");
        assert_eq!(m.params["id"], "abc");
    }

    #[test]
    fn chained_requests_reach_the_component_with_the_whole_path() {
        let router = router();
        let m = router.chained("orders", "/123").unwrap();
        assert_eq!(m.component, "orders");
        assert_eq!(m.path_info, "/123");
        assert_eq!(router.chained("nope", "/"), None);
    }

    #[test]
    fn no_route_without_a_fallback() {
        let router = Router::new([("/a", "a")]).unwrap();
        assert_eq!(router.route("/b"), None);
    }

    #[test]
    fn malformed_routes_are_rejected() {
        assert!(Router::new([("a", "x")]).is_err());
        assert!(Router::new([("/a/.../b", "x")]).is_err());
        assert!(Router::new([("/a/:", "x")]).is_err());
    }
}
