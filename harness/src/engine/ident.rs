//! Identifier text as written in SQL, turned into the name it denotes.

/// Returns the name a possibly backquoted identifier denotes: without the
/// outer backticks, and with each doubled backtick inside made single.
pub fn unquote(text: &str) -> String {
    let text = text.trim();
    match text.strip_prefix('`').and_then(|rest| rest.strip_suffix('`')) {
        Some(inner) => inner.replace("``", "`"),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::unquote;

    #[test]
    fn unquote_names() {
        assert_eq!(unquote("plain"), "plain");
        assert_eq!(unquote("`a b`"), "a b");
        assert_eq!(unquote("`we``ird`"), "we`ird");
        assert_eq!(unquote("````"), "`");
        assert_eq!(unquote(" `t` "), "t");
    }
}
