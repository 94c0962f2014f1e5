//! Who is asking, as a verified token says, and whom they may act for.

use crate::ids::UserId;

/// The scope that lets a caller act for any user.
pub const ADMIN_SCOPE: &str = "orders:admin";

/// The caller behind a verified token: its `sub`, and whether its scopes
/// include [`ADMIN_SCOPE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub admin: bool,
}

impl Principal {
    /// From a token's subject and scopes (already split on spaces, or the
    /// items of `scp`).
    pub fn from_scopes<'a>(
        subject: impl Into<String>,
        scopes: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        Self {
            subject: subject.into(),
            admin: scopes.into_iter().any(|scope| scope == ADMIN_SCOPE),
        }
    }

    /// An admin acts for anyone; everyone else only for the user their
    /// subject names. Case-insensitive because identity providers differ in
    /// how they spell UUIDs, while [`UserId`] is always lowercase.
    pub fn may_act_for(&self, user: &UserId) -> bool {
        self.admin || self.subject.eq_ignore_ascii_case(&user.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "6f1c2b1e-3d4a-4c5b-8e9f-0a1b2c3d4e5f";
    const OTHER: &str = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d";

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    #[test]
    fn a_user_may_act_for_themselves_in_any_letter_case() {
        let principal = Principal::from_scopes(USER.to_uppercase(), ["orders:read"]);
        assert!(!principal.admin);
        assert!(principal.may_act_for(&user(USER)));
    }

    #[test]
    fn a_user_may_not_act_for_another() {
        let principal = Principal::from_scopes(USER, []);
        assert!(!principal.may_act_for(&user(OTHER)));
    }

    #[test]
    fn an_admin_may_act_for_anyone() {
        let principal = Principal::from_scopes("ops-robot", ["orders:read", ADMIN_SCOPE]);
        assert!(principal.admin);
        assert!(principal.may_act_for(&user(OTHER)));
    }

    #[test]
    fn only_the_exact_admin_scope_counts() {
        let principal = Principal::from_scopes(USER, ["orders:admin2", "ORDERS:ADMIN"]);
        assert!(!principal.admin);
    }
}
