//! The bearer-token check: `Authorization: Bearer TOKEN`, compared in constant time.

use subtle::ConstantTimeEq;

/// Whether the `Authorization` header value `header` presents `token`.
pub fn authorised(header: Option<&str>, token: &str) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    // Lengths may differ; `ct_eq` on slices of unequal length is false without looking at
    // their contents.
    bool::from(given.trim().as_bytes().ct_eq(token.as_bytes()))
}

/// The token in a token file: its first line, trimmed; an empty one is an error.
pub fn read_token(text: &str) -> Result<String, String> {
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        return Err("the token file is empty".into());
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_after_bearer_passes() {
        assert!(authorised(Some("Bearer s3cret"), "s3cret"));
        assert!(!authorised(Some("Bearer s3cre"), "s3cret"));
        assert!(!authorised(Some("Bearer s3cret!"), "s3cret"));
        assert!(!authorised(Some("Basic s3cret"), "s3cret"));
        assert!(!authorised(Some("s3cret"), "s3cret"));
        assert!(!authorised(None, "s3cret"));
    }

    #[test]
    fn a_token_file_holds_one_line() {
        assert_eq!(read_token("abc\n").unwrap(), "abc");
        assert_eq!(read_token("  abc  \nignored").unwrap(), "abc");
        assert!(read_token("\n").is_err());
    }
}
