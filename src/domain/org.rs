//! Organization slugs.

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
