//! The one-statement result filters: `--sorted_result`, `--replace_column`
//! and `--replace_regex`.
//!
//! `--replace_regex` uses the `regex` crate. Its syntax matches Go's RE2
//! for what cases use (classes, repetition, groups, `(?i)`), and neither
//! has look-around or back-references. Replacements expand `$1`, `${name}`
//! and `$$` the same way in both.

use regex::{Regex, RegexBuilder};

/// Errors in a filter's arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// Occurs when `--replace_regex` text is not `/pattern/replacement/`.
    #[error("invalid --replace_regex argument {0:?}; expected /pattern/replacement/ [/pattern2/replacement2/ ...]")]
    RegexSyntax(String),
    /// Occurs when a pattern does not compile.
    #[error("invalid regular expression {pattern:?} in --replace_regex: {message}")]
    Regex {
        /// The pattern.
        pattern: String,
        /// The compiler's message.
        message: String,
    },
    /// Occurs when a `--replace_column` column is not a positive integer.
    #[error("invalid column {0:?} in --replace_column; columns are numbered from 1")]
    Column(String),
    /// Occurs when a `--replace_column` column has no replacement value.
    #[error("--replace_column {0} has no replacement value; give pairs of column and value")]
    MissingValue(String),
}

/// One `/pattern/replacement/` rule.
#[derive(Debug, Clone)]
pub struct RegexRule {
    /// The compiled pattern.
    pub regex: Regex,
    /// The replacement, with `\n`, `\t`, `\r` and `\\` already decoded.
    pub replacement: String,
}

/// Parses the argument of `--replace_regex`: one or more rules, each
/// `<d>pattern<d>replacement<d>` for a delimiter character `<d>` (usually
/// `/`), optionally followed by `i` for a case-insensitive match. A
/// backslash before the delimiter makes it literal.
pub fn parse_replace_regex(text: &str) -> Result<Vec<RegexRule>, FilterError> {
    let syntax_error = || FilterError::RegexSyntax(text.to_string());
    let mut rules = Vec::new();
    let mut chars = text.trim().chars().peekable();

    while let Some(delimiter) = chars.next() {
        if delimiter.is_whitespace() {
            continue;
        }
        let pattern = read_part(&mut chars, delimiter, false).ok_or_else(syntax_error)?;
        let replacement = read_part(&mut chars, delimiter, true).ok_or_else(syntax_error)?;

        let case_insensitive = chars.peek() == Some(&'i');
        if case_insensitive {
            chars.next();
        }
        if chars.peek().is_some_and(|c| !c.is_whitespace()) {
            return Err(syntax_error());
        }

        let regex = RegexBuilder::new(&pattern)
            .case_insensitive(case_insensitive)
            .build()
            .map_err(|err| FilterError::Regex {
                pattern: pattern.clone(),
                message: err.to_string(),
            })?;
        rules.push(RegexRule { regex, replacement });
    }

    if rules.is_empty() {
        return Err(syntax_error());
    }
    Ok(rules)
}

/// Reads up to the next unescaped `delimiter`; `None` when it never comes.
fn read_part(
    chars: &mut std::iter::Peekable<std::str::Chars>,
    delimiter: char,
    decode: bool,
) -> Option<String> {
    let mut part = String::new();
    while let Some(c) = chars.next() {
        if c == delimiter {
            return Some(part);
        }
        if c != '\\' {
            part.push(c);
            continue;
        }

        // An escaped delimiter is always literal. The replacement also
        // decodes \n \t \r \\. Any other escape stays as written, so the
        // pattern keeps its regex escapes.
        let next = chars.next()?;
        match next {
            n if n == delimiter => part.push(n),
            'n' if decode => part.push('\n'),
            't' if decode => part.push('\t'),
            'r' if decode => part.push('\r'),
            '\\' if decode => part.push('\\'),
            other => {
                part.push('\\');
                part.push(other);
            }
        }
    }
    None
}

/// Applies every rule in order.
pub fn apply_regex(rules: &[RegexRule], text: &str) -> String {
    let mut current = text.to_string();
    for rule in rules {
        current = rule
            .regex
            .replace_all(&current, rule.replacement.as_str())
            .into_owned();
    }
    current
}

/// Parses the argument of `--replace_column`: whitespace-separated pairs of
/// a 1-based column number and a value without spaces.
pub fn parse_replace_column(text: &str) -> Result<Vec<(usize, String)>, FilterError> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let mut pairs = Vec::new();

    for pair in fields.chunks(2) {
        let column: usize = pair[0]
            .parse()
            .ok()
            .filter(|c| *c > 0)
            .ok_or_else(|| FilterError::Column(pair[0].to_string()))?;
        let value = pair
            .get(1)
            .ok_or_else(|| FilterError::MissingValue(pair[0].to_string()))?;
        pairs.push((column, value.to_string()));
    }

    if pairs.is_empty() {
        return Err(FilterError::MissingValue(String::new()));
    }
    Ok(pairs)
}

/// Replaces whole columns; a column past the row's end is ignored, as
/// mysql-tester ignores it.
pub fn apply_replace_column(pairs: &[(usize, String)], rows: &mut [Vec<Option<String>>]) {
    for row in rows {
        for (column, value) in pairs {
            if let Some(cell) = row.get_mut(column - 1) {
                *cell = Some(value.clone());
            }
        }
    }
}

/// Sorts rows bytewise, cell by cell, with NULL before the empty string.
pub fn sort_rows(rows: &mut [Vec<Option<String>>]) {
    // Option's order puts None first, and String compares bytewise.
    rows.sort();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn regex_rules_apply_in_order() {
        let rules = parse_replace_regex(r"/[0-9]+/N/ /a\/b/slash/").unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(apply_regex(&rules, "id 42 at a/b"), "id N at slash");
    }

    #[test]
    fn regex_replacement_escapes_and_groups() {
        let rules = parse_replace_regex(r"/(\w+)=(\w+)/$2\t$1\\/").unwrap();
        assert_eq!(apply_regex(&rules, "k=v"), "v\tk\\");
    }

    #[test]
    fn regex_case_insensitive_flag() {
        let rules = parse_replace_regex("/error/E/i").unwrap();
        assert_eq!(apply_regex(&rules, "ERROR x"), "E x");
    }

    #[test]
    fn regex_syntax_errors() {
        assert!(matches!(
            parse_replace_regex("/abc/"),
            Err(FilterError::RegexSyntax(_))
        ));
        assert!(matches!(
            parse_replace_regex(""),
            Err(FilterError::RegexSyntax(_))
        ));
        assert!(matches!(
            parse_replace_regex("/a/b/x"),
            Err(FilterError::RegexSyntax(_))
        ));
        assert!(matches!(
            parse_replace_regex("/(/x/"),
            Err(FilterError::Regex { .. })
        ));
    }

    #[test]
    fn replace_column_pairs() {
        let pairs = parse_replace_column("1 # 3 <time>").unwrap();
        let mut rows = vec![cells(&[Some("a"), None, Some("c")]), cells(&[Some("x")])];
        apply_replace_column(&pairs, &mut rows);
        assert_eq!(rows[0], cells(&[Some("#"), None, Some("<time>")]));
        assert_eq!(rows[1], cells(&[Some("#")]));
    }

    #[test]
    fn replace_column_errors() {
        assert_eq!(
            parse_replace_column("0 x"),
            Err(FilterError::Column("0".into()))
        );
        assert_eq!(
            parse_replace_column("a x"),
            Err(FilterError::Column("a".into()))
        );
        assert_eq!(
            parse_replace_column("1 x 2"),
            Err(FilterError::MissingValue("2".into()))
        );
    }

    #[test]
    fn sort_puts_null_before_empty() {
        let mut rows = vec![
            cells(&[Some("b")]),
            cells(&[Some("")]),
            cells(&[None]),
            cells(&[Some("B")]),
            cells(&[Some("a")]),
        ];
        sort_rows(&mut rows);
        let expected = vec![
            cells(&[None]),
            cells(&[Some("")]),
            cells(&[Some("B")]),
            cells(&[Some("a")]),
            cells(&[Some("b")]),
        ];
        assert_eq!(rows, expected);
    }
}
