//! Turning a request body into a [`NewOrder`], reporting every problem at once
//! so a client can fix its request in one round trip.

use std::fmt;

use serde_json::{Map, Value};

use super::NewOrder;
use crate::ids::{NotAUuid, ProductId, UserId};
use crate::order::{IdempotencyKey, Quantity, QuantityError};

/// One thing wrong with a request body. `field` names the field it concerns
/// (`None` for the body as a whole); `description` is a sentence for the
/// client and is also what `Display` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationProblem {
    pub field: Option<String>,
    pub description: String,
}

impl ValidationProblem {
    fn body(description: impl Into<String>) -> Self {
        Self {
            field: None,
            description: description.into(),
        }
    }

    fn field(field: &str, description: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_owned()),
            description: description.into(),
        }
    }
}

impl fmt::Display for ValidationProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

const FIELDS: [&str; 4] = ["idempotency_key", "user_id", "product_id", "quantity"];

impl NewOrder {
    /// Parses raw body bytes; text that is not JSON is one problem.
    pub fn parse_json(body: &[u8]) -> Result<Self, Vec<ValidationProblem>> {
        match serde_json::from_slice::<Value>(body) {
            Ok(value) => Self::parse(&value),
            Err(_) => Err(vec![ValidationProblem::body(
                "request body must be valid JSON",
            )]),
        }
    }

    /// Checks every field of a JSON body. Problems come in a fixed order: the
    /// known fields in the contract's order, then unknown fields.
    pub fn parse(body: &Value) -> Result<Self, Vec<ValidationProblem>> {
        let Some(object) = body.as_object() else {
            return Err(vec![ValidationProblem::body(
                "request body must be a JSON object",
            )]);
        };
        let mut problems = Vec::new();

        let idempotency_key = field(object, "idempotency_key", &mut problems, idempotency_key);
        let user_id = field(object, "user_id", &mut problems, |value| {
            uuid(value, "user_id", UserId::parse)
        });
        let product_id = field(object, "product_id", &mut problems, |value| {
            uuid(value, "product_id", ProductId::parse)
        });
        let quantity = field(object, "quantity", &mut problems, quantity);

        for name in object
            .keys()
            .filter(|name| !FIELDS.contains(&name.as_str()))
        {
            problems.push(ValidationProblem::field(
                name,
                format!("unknown field {name:?}"),
            ));
        }

        match (idempotency_key, user_id, product_id, quantity) {
            (Some(idempotency_key), Some(user_id), Some(product_id), Some(quantity))
                if problems.is_empty() =>
            {
                Ok(Self {
                    idempotency_key,
                    user_id,
                    product_id,
                    quantity,
                })
            }
            _ => Err(problems),
        }
    }
}

/// Reads one required field, recording what is wrong with it.
fn field<T>(
    object: &Map<String, Value>,
    name: &str,
    problems: &mut Vec<ValidationProblem>,
    read: impl FnOnce(&Value) -> Result<T, String>,
) -> Option<T> {
    let Some(value) = object.get(name) else {
        problems.push(ValidationProblem::field(
            name,
            format!("{name} is required"),
        ));
        return None;
    };
    match read(value) {
        Ok(parsed) => Some(parsed),
        Err(description) => {
            problems.push(ValidationProblem::field(name, description));
            None
        }
    }
}

fn idempotency_key(value: &Value) -> Result<IdempotencyKey, String> {
    let text = value
        .as_str()
        .ok_or_else(|| "idempotency_key must be a string".to_owned())?;
    IdempotencyKey::new(text).map_err(|problem| problem.to_string())
}

/// A value of the wrong type is "not a UUID" as much as a malformed string,
/// and one message serves both.
fn uuid<T>(
    value: &Value,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, NotAUuid>,
) -> Result<T, String> {
    value
        .as_str()
        .ok_or(NotAUuid)
        .and_then(parse)
        .map_err(|_| format!("{name} must be a UUID"))
}

/// Only a JSON integer counts: `2.0` and `"2"` are refused like `0`.
fn quantity(value: &Value) -> Result<Quantity, String> {
    value
        .as_u64()
        .and_then(|units| u32::try_from(units).ok())
        .ok_or(QuantityError)
        .and_then(Quantity::new)
        .map_err(|problem| problem.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const USER: &str = "6f1c2b1e-3d4a-4c5b-8e9f-0a1b2c3d4e5f";
    const PRODUCT: &str = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d";

    fn valid() -> Value {
        json!({
            "idempotency_key": "key-1",
            "user_id": USER,
            "product_id": PRODUCT,
            "quantity": 2,
        })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut body = valid();
        body[field] = value;
        body
    }

    fn without(field: &str) -> Value {
        let mut body = valid();
        body.as_object_mut().unwrap().remove(field);
        body
    }

    /// The descriptions of the problems, for one-line assertions.
    fn problems(body: &Value) -> Vec<String> {
        NewOrder::parse(body)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_valid_body_becomes_a_new_order() {
        let order = NewOrder::parse(&valid()).unwrap();
        assert_eq!(order.idempotency_key.as_str(), "key-1");
        assert_eq!(order.user_id.to_string(), USER);
        assert_eq!(order.product_id.to_string(), PRODUCT);
        assert_eq!(order.quantity.get(), 2);
    }

    #[test]
    fn uppercase_uuids_are_accepted_and_normalised() {
        let body = with("user_id", json!(USER.to_uppercase()));
        let order = NewOrder::parse(&body).unwrap();
        assert_eq!(order.user_id.to_string(), USER);
        assert_eq!(
            order.fingerprint(),
            NewOrder::parse(&valid()).unwrap().fingerprint()
        );
    }

    #[test]
    fn a_body_that_is_not_an_object_is_one_problem() {
        for body in [json!([]), json!("order"), json!(null), json!(3)] {
            let found = NewOrder::parse(&body).unwrap_err();
            assert_eq!(
                found,
                vec![ValidationProblem {
                    field: None,
                    description: "request body must be a JSON object".into(),
                }]
            );
        }
    }

    #[test]
    fn bytes_that_are_not_json_are_one_problem() {
        let found = NewOrder::parse_json(b"{\"quantity\":").unwrap_err();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].field, None);
        assert_eq!(found[0].description, "request body must be valid JSON");
        assert!(NewOrder::parse_json(valid().to_string().as_bytes()).is_ok());
    }

    #[test]
    fn each_missing_field_is_required() {
        for name in FIELDS {
            let found = NewOrder::parse(&without(name)).unwrap_err();
            assert_eq!(
                found,
                vec![ValidationProblem {
                    field: Some(name.into()),
                    description: format!("{name} is required"),
                }]
            );
        }
    }

    #[test]
    fn an_unknown_field_is_named() {
        let found = NewOrder::parse(&with("colour", json!("red"))).unwrap_err();
        assert_eq!(
            found,
            vec![ValidationProblem {
                field: Some("colour".into()),
                description: "unknown field \"colour\"".into(),
            }]
        );
    }

    #[test]
    fn each_unknown_field_is_its_own_problem() {
        let mut body = with("colour", json!("red"));
        body["size"] = json!(9);
        let found = problems(&body);
        assert_eq!(found.len(), 2);
        assert!(found.contains(&"unknown field \"colour\"".to_owned()));
        assert!(found.contains(&"unknown field \"size\"".to_owned()));
    }

    #[test]
    fn uuid_fields_must_be_uuids() {
        for name in ["user_id", "product_id"] {
            for value in [json!("not-a-uuid"), json!(""), json!(42), json!(null)] {
                assert_eq!(
                    problems(&with(name, value)),
                    vec![format!("{name} must be a UUID")]
                );
            }
        }
    }

    #[test]
    fn quantity_must_be_an_integer_from_one_to_ten_thousand() {
        for value in [
            json!(0),
            json!(-1),
            json!(10_001),
            json!(u64::MAX),
            json!(2.5),
            json!(2.0),
            json!("2"),
            json!(null),
            json!(true),
        ] {
            assert_eq!(
                problems(&with("quantity", value.clone())),
                vec!["quantity must be an integer between 1 and 10000"],
                "{value}"
            );
        }
        for units in [1, 10_000] {
            assert!(NewOrder::parse(&with("quantity", json!(units))).is_ok());
        }
    }

    #[test]
    fn idempotency_key_must_be_a_string() {
        assert_eq!(
            problems(&with("idempotency_key", json!(7))),
            vec!["idempotency_key must be a string"]
        );
    }

    #[test]
    fn idempotency_key_must_not_be_empty() {
        assert_eq!(
            problems(&with("idempotency_key", json!(""))),
            vec!["idempotency_key must not be empty"]
        );
    }

    #[test]
    fn idempotency_key_must_not_be_too_long() {
        assert_eq!(
            problems(&with("idempotency_key", json!("k".repeat(256)))),
            vec!["idempotency_key must be at most 255 characters"]
        );
    }

    #[test]
    fn idempotency_key_must_be_printable_ascii() {
        assert_eq!(
            problems(&with("idempotency_key", json!("line\nbreak"))),
            vec!["idempotency_key must contain only printable ASCII characters"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let body = json!({
            "idempotency_key": "",
            "user_id": "nope",
            "quantity": 0,
            "colour": "red",
        });
        let found = NewOrder::parse(&body).unwrap_err();
        let described: Vec<(Option<&str>, &str)> = found
            .iter()
            .map(|p| (p.field.as_deref(), p.description.as_str()))
            .collect();
        assert_eq!(
            described,
            vec![
                (Some("idempotency_key"), "idempotency_key must not be empty"),
                (Some("user_id"), "user_id must be a UUID"),
                (Some("product_id"), "product_id is required"),
                (
                    Some("quantity"),
                    "quantity must be an integer between 1 and 10000"
                ),
                (Some("colour"), "unknown field \"colour\""),
            ]
        );
    }

    #[test]
    fn an_empty_object_misses_all_four_fields() {
        assert_eq!(
            problems(&json!({})),
            vec![
                "idempotency_key is required",
                "user_id is required",
                "product_id is required",
                "quantity is required",
            ]
        );
    }
}
