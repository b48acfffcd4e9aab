//! Organization slugs and settings.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What happens to a key whose secret is reported leaked (`POST /v1/leaks`, GitHub secret
/// scanning): an org setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LeakPolicy {
    /// Revoked at once (the default): a secret that is public is anyone's.
    #[default]
    Revoke,
    /// Only flagged (`leaked_at`), audited and announced (`key.leaked`), for orgs that must
    /// roll on their own schedule.
    Notify,
}

impl LeakPolicy {
    pub fn as_str(&self) -> &'static str {
        match self {
            LeakPolicy::Revoke => "revoke",
            LeakPolicy::Notify => "notify",
        }
    }

    pub fn parse(text: &str) -> Option<LeakPolicy> {
        match text {
            "revoke" => Some(LeakPolicy::Revoke),
            "notify" => Some(LeakPolicy::Notify),
            _ => None,
        }
    }
}

/// `[a-z0-9-]{1,63}`: safe in URLs, DNS labels and file names.
pub fn validate_slug(slug: &str) -> Result<(), String> {
    if slug.is_empty() || slug.len() > 63 {
        return Err(format!("org slug {slug:?} must be 1 to 63 characters long"));
    }
    if !slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "org slug {slug:?} may only contain a-z, 0-9 and '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_slug;

    #[test]
    fn slugs_follow_the_spec_pattern() {
        assert!(validate_slug("default").is_ok());
        assert!(validate_slug("acme-2").is_ok());
        assert!(validate_slug(&"a".repeat(63)).is_ok());
        assert!(validate_slug(&"a".repeat(64)).is_err());
        assert!(validate_slug("").is_err());
        assert!(validate_slug("Acme").is_err());
        assert!(validate_slug("a_b").is_err());
    }
}
