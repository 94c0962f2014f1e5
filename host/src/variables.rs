//! Spin variables: application variables from `[variables]`, given values by
//! the environment, and the component variables templated from them.
//!
//! Everything is resolved once at start-up so that a missing required
//! variable stops the host before it serves anything, naming the variable.

use std::collections::{BTreeMap, HashMap};

use crate::manifest::Manifest;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariableError {
    #[error("variable {name:?} is required but not set (set SPIN_VARIABLE_{upper} or {upper})", upper = name.to_uppercase())]
    Missing { name: String },
    #[error("template {template:?}: {reason}")]
    Template { template: String, reason: String },
}

/// A value with `{{ name }}` references to application variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Reference(String),
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, VariableError> {
        let error = |reason: &str| VariableError::Template {
            template: text.to_owned(),
            reason: reason.to_owned(),
        };
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| error("unclosed `{{`"))?;
            let name = after[..end].trim();
            crate::manifest::check_variable_name(name).map_err(|e| error(&e.to_string()))?;
            parts.push(Part::Reference(name.to_owned()));
            rest = &after[end + 2..];
        }
        if rest.contains("}}") {
            return Err(error("`}}` without `{{`"));
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self(parts))
    }

    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|part| match part {
            Part::Reference(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    fn render(&self, values: &HashMap<String, String>) -> Result<String, VariableError> {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Reference(name) => out.push_str(
                    values
                        .get(name)
                        .ok_or_else(|| VariableError::Missing { name: name.clone() })?,
                ),
            }
        }
        Ok(out)
    }
}

/// The application variables' values, resolved from the environment.
#[derive(Clone)]
pub struct ResolvedVariables {
    values: HashMap<String, String>,
    secret: std::collections::HashSet<String>,
}

impl std::fmt::Debug for ResolvedVariables {
    // Secrets never reach a log line, even through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.values {
            if self.secret.contains(name) {
                map.entry(name, &"<secret>");
            } else {
                map.entry(name, value);
            }
        }
        map.finish()
    }
}

impl ResolvedVariables {
    /// Resolves every application variable. A value comes, in this order,
    /// from `SPIN_VARIABLE_<NAME>` (Spin's env provider), from `<NAME>` (the
    /// seed's environment names, e.g. `DATABASE_URL`), then from the default.
    pub fn resolve(
        manifest: &Manifest,
        env: &HashMap<String, String>,
    ) -> Result<Self, Vec<VariableError>> {
        let mut values = HashMap::new();
        let mut missing = Vec::new();
        for (name, variable) in &manifest.variables {
            let upper = name.to_uppercase();
            let value = env
                .get(&format!("SPIN_VARIABLE_{upper}"))
                .or_else(|| env.get(&upper))
                .cloned()
                .or_else(|| variable.default.clone());
            match value {
                Some(value) => {
                    values.insert(name.clone(), value);
                }
                None => missing.push(VariableError::Missing { name: name.clone() }),
            }
        }
        if !missing.is_empty() {
            return Err(missing);
        }
        let secret = manifest
            .variables
            .iter()
            .filter(|(_, v)| v.secret)
            .map(|(name, _)| name.clone())
            .collect();
        Ok(Self { values, secret })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn render(&self, template: &str) -> Result<String, VariableError> {
        Template::parse(template)?.render(&self.values)
    }

    /// A component's variables, each rendered from its template.
    pub fn for_component(
        &self,
        templates: &BTreeMap<String, String>,
    ) -> Result<ComponentVariables, VariableError> {
        let values = templates
            .iter()
            .map(|(name, template)| Ok((name.clone(), self.render(template)?)))
            .collect::<Result<_, VariableError>>()?;
        Ok(ComponentVariables { values })
    }
}

/// What a component can read through the variables interfaces.
#[derive(Clone, Default)]
pub struct ComponentVariables {
    values: HashMap<String, String>,
}

/// Why a guest's `variables.get` failed; mapped onto each WIT version's
/// `error` variant by the host bindings.
#[derive(Debug, PartialEq, Eq)]
pub enum LookupError {
    InvalidName(String),
    Undefined(String),
}

impl ComponentVariables {
    pub fn get(&self, name: &str) -> Result<String, LookupError> {
        if crate::manifest::check_variable_name(name).is_err() {
            return Err(LookupError::InvalidName(name.to_owned()));
        }
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| LookupError::Undefined(format!("no variable for {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest::parse(
            r#"
spin_manifest_version = 2
[application]
name = "demo"
[variables]
database_url = { required = true, secret = true }
log_level = { default = "info" }
"#,
        )
        .unwrap()
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn spins_env_name_wins_over_the_seeds_name() {
        let vars = ResolvedVariables::resolve(
            &manifest(),
            &env(&[
                ("SPIN_VARIABLE_DATABASE_URL", "spin"),
                ("DATABASE_URL", "seed"),
            ]),
        )
        .unwrap();
        assert_eq!(vars.get("database_url"), Some("spin"));
    }

    #[test]
    fn the_seeds_env_name_is_honoured() {
        let vars =
            ResolvedVariables::resolve(&manifest(), &env(&[("DATABASE_URL", "seed")])).unwrap();
        assert_eq!(vars.get("database_url"), Some("seed"));
        assert_eq!(vars.get("log_level"), Some("info"));
    }

    #[test]
    fn a_missing_required_variable_is_named() {
        let errors = ResolvedVariables::resolve(&manifest(), &env(&[])).unwrap_err();
        assert_eq!(errors.len(), 1);
        let message = errors[0].to_string();
        assert!(message.contains("\"database_url\""), "{message}");
        assert!(message.contains("SPIN_VARIABLE_DATABASE_URL"), "{message}");
    }

    #[test]
    fn secrets_are_hidden_from_debug_output() {
        let vars =
            ResolvedVariables::resolve(&manifest(), &env(&[("DATABASE_URL", "pw-123")])).unwrap();
        let debug = format!("{vars:?}");
        assert!(!debug.contains("pw-123"), "{debug}");
    }

    #[test]
    fn templates_render_literals_and_references() {
        let vars =
            ResolvedVariables::resolve(&manifest(), &env(&[("DATABASE_URL", "pg")])).unwrap();
        assert_eq!(
            vars.render("x-{{ log_level }}-{{database_url}}").unwrap(),
            "x-info-pg"
        );
        assert!(vars.render("{{ nope }}").is_err());
        assert!(Template::parse("{{ unclosed").is_err());
        assert!(Template::parse("{{ Bad }}").is_err());
    }

    #[test]
    fn component_lookup_tells_invalid_from_undefined() {
        let vars =
            ResolvedVariables::resolve(&manifest(), &env(&[("DATABASE_URL", "pg")])).unwrap();
        let templates = BTreeMap::from([("db".to_owned(), "{{ database_url }}".to_owned())]);
        let component = vars.for_component(&templates).unwrap();
        assert_eq!(component.get("db").unwrap(), "pg");
        assert!(matches!(
            component.get("nope"),
            Err(LookupError::Undefined(_))
        ));
        assert!(matches!(
            component.get("NOPE"),
            Err(LookupError::InvalidName(_))
        ));
    }
}
