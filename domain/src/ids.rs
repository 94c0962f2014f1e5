//! Identifiers of orders, users and products: UUIDs with one spelling.
//!
//! Each kind has its own type so an order id cannot be passed where a product
//! id is expected. Input is accepted in any letter case; output is always the
//! canonical lowercase hyphenated form, so ids compare, hash and fingerprint
//! the same however a client wrote them.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// The input was not a UUID in its hyphenated 8-4-4-4-12 form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a UUID")]
pub struct NotAUuid;

/// Parses the hyphenated form only: `uuid` also accepts the simple, braced and
/// URN forms, and letting those in would give one id several spellings in
/// URLs and bodies.
pub(crate) fn parse_hyphenated(input: &str) -> Result<Uuid, NotAUuid> {
    if input.len() != 36 {
        return Err(NotAUuid);
    }
    Uuid::try_parse(input).map_err(|_| NotAUuid)
}

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            /// Parses a hyphenated UUID in any letter case.
            pub fn parse(input: &str) -> Result<Self, NotAUuid> {
                parse_hyphenated(input).map(Self)
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).map_err(de::Error::custom)
            }
        }
    };
}

uuid_id!(
    /// An order's id, chosen by the service when the order is created.
    OrderId
);
uuid_id!(
    /// The user an order belongs to; a token's `sub` names one.
    UserId
);
uuid_id!(
    /// A product in the product service's catalog.
    ProductId
);

#[cfg(test)]
mod tests {
    use super::*;

    const LOWER: &str = "6f1c2b1e-3d4a-4c5b-8e9f-0a1b2c3d4e5f";

    #[test]
    fn an_id_parses_in_any_case_and_displays_in_lowercase() {
        let id = OrderId::parse(&LOWER.to_uppercase()).unwrap();
        assert_eq!(id.to_string(), LOWER);
        assert_eq!(id, OrderId::parse(LOWER).unwrap());
    }

    #[test]
    fn only_the_hyphenated_form_is_an_id() {
        for input in [
            "",
            "not-a-uuid",
            "6f1c2b1e3d4a4c5b8e9f0a1b2c3d4e5f",
            "{6f1c2b1e-3d4a-4c5b-8e9f-0a1b2c3d4e5f}",
            "urn:uuid:6f1c2b1e-3d4a-4c5b-8e9f-0a1b2c3d4e5f",
            "6f1c2b1e-3d4a-4c5b-8e9f-0a1b2c3d4e5g",
            " 6f1c2b1e-3d4a-4c5b-8e9f-0a1b2c3d4e5",
        ] {
            assert_eq!(UserId::parse(input), Err(NotAUuid), "{input:?}");
        }
    }

    #[test]
    fn an_id_serializes_as_its_canonical_string() {
        let id = ProductId::parse(&LOWER.to_uppercase()).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{LOWER}\""));
        let back: ProductId = serde_json::from_str(&format!("\"{LOWER}\"")).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<ProductId>("\"nope\"").is_err());
        assert!(serde_json::from_str::<ProductId>("42").is_err());
    }
}
