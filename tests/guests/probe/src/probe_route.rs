//! Which probe a request asks for, from `spin-path-info` and the query
//! string. Pure: no I/O.

/// A probe the guest performs.
#[derive(Debug, PartialEq, Eq)]
pub enum ProbeRoute {
    Loop,
    /// An outbound GET to the decoded `url` query parameter.
    Outbound(String),
    Variable(String),
    Headers,
    Log,
    Postgres,
    /// Answers after sleeping this many milliseconds (yielding to the host).
    Sleep(u64),
    NotFound,
}

impl ProbeRoute {
    pub fn parse(path_info: &str, query: &str) -> Self {
        let path = path_info
            .split_once('?')
            .map_or(path_info, |(path, _)| path);
        match path {
            "/loop" => Self::Loop,
            "/headers" => Self::Headers,
            "/log" => Self::Log,
            "/pg" => Self::Postgres,
            "/outbound" => query_param(query, "url").map_or(Self::NotFound, Self::Outbound),
            "/sleep" => query_param(query, "ms")
                .and_then(|ms| ms.parse().ok())
                .map_or(Self::NotFound, Self::Sleep),
            _ => match path.strip_prefix("/variable/") {
                Some(name) if !name.is_empty() && !name.contains('/') => {
                    Self::Variable(name.to_owned())
                }
                _ => Self::NotFound,
            },
        }
    }
}

/// The percent-decoded value of the first `name=` pair in `query`.
fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| percent_decode(value))
}

/// Decodes `%XX` escapes. `+` is kept as it is: the parameter is a URL, in
/// which `+` is an ordinary character. `None` for a malformed escape or a
/// result that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_probe_has_its_path() {
        assert_eq!(ProbeRoute::parse("/loop", ""), ProbeRoute::Loop);
        assert_eq!(ProbeRoute::parse("/headers", "x=1"), ProbeRoute::Headers);
        assert_eq!(ProbeRoute::parse("/log", ""), ProbeRoute::Log);
        assert_eq!(
            ProbeRoute::parse("/variable/greeting", ""),
            ProbeRoute::Variable("greeting".into())
        );
    }

    #[test]
    fn the_outbound_url_is_percent_decoded() {
        assert_eq!(
            ProbeRoute::parse("/outbound", "a=b&url=http%3A%2F%2Fself%2Fx%3Fy%3D1%2B2"),
            ProbeRoute::Outbound("http://self/x?y=1+2".into())
        );
        assert_eq!(
            ProbeRoute::parse("/outbound", "url=http://127.0.0.1:9/denied"),
            ProbeRoute::Outbound("http://127.0.0.1:9/denied".into())
        );
    }

    #[test]
    fn an_outbound_probe_without_a_usable_url_is_not_found() {
        for query in ["", "url", "other=1", "url=%zz", "url=%4", "url=%ff"] {
            assert_eq!(
                ProbeRoute::parse("/outbound", query),
                ProbeRoute::NotFound,
                "{query}"
            );
        }
    }

    #[test]
    fn other_paths_are_not_found() {
        for path in ["", "/", "/loop/", "/variable/", "/variable/a/b", "/nope"] {
            assert_eq!(
                ProbeRoute::parse(path, ""),
                ProbeRoute::NotFound,
                "{path:?}"
            );
        }
    }
}
