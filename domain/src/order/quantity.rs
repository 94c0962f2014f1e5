//! How many units an order is for.

use serde::{Deserialize, Serialize};

/// A number of units, 1 to 10000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Quantity(u32);

/// The message is the one the client sees, so it names the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "quantity must be an integer between {} and {}",
    Quantity::MIN,
    Quantity::MAX
)]
pub struct QuantityError;

impl Quantity {
    pub const MIN: u32 = 1;
    pub const MAX: u32 = 10_000;

    pub fn new(units: u32) -> Result<Self, QuantityError> {
        if (Self::MIN..=Self::MAX).contains(&units) {
            Ok(Self(units))
        } else {
            Err(QuantityError)
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Quantity {
    type Error = QuantityError;

    fn try_from(units: u32) -> Result<Self, Self::Error> {
        Self::new(units)
    }
}

impl From<Quantity> for u32 {
    fn from(quantity: Quantity) -> Self {
        quantity.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_to_ten_thousand_units_is_a_quantity() {
        assert_eq!(Quantity::new(1).unwrap().get(), 1);
        assert_eq!(Quantity::new(10_000).unwrap().get(), 10_000);
    }

    #[test]
    fn zero_and_more_than_ten_thousand_are_not() {
        assert_eq!(Quantity::new(0), Err(QuantityError));
        assert_eq!(Quantity::new(10_001), Err(QuantityError));
        assert_eq!(
            QuantityError.to_string(),
            "quantity must be an integer between 1 and 10000"
        );
    }

    #[test]
    fn a_quantity_is_a_json_number_and_is_checked_when_read() {
        assert_eq!(
            serde_json::to_string(&Quantity::new(2).unwrap()).unwrap(),
            "2"
        );
        assert_eq!(serde_json::from_str::<Quantity>("2").unwrap().get(), 2);
        assert!(serde_json::from_str::<Quantity>("0").is_err());
    }
}
