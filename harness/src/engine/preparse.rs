//! Token-level rewrites for TiDB syntax that sqlparser does not accept,
//! applied before parsing, and recovery of the original text of select
//! items (MySQL names an unaliased result column after its text).
//!
//! - `t AS OF TIMESTAMP <expr>` on table references is cut out, and the
//!   expression text is returned for the caller to evaluate.
//! - `MODEL_PREDICT(m, a, b).score` becomes
//!   `MODEL_PREDICT_OUTPUT(m, a, b, 'score')`.

use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::error::{self, EngineResult};

/// The function name a `MODEL_PREDICT(...).output` call is rewritten to.
pub const MODEL_PREDICT_OUTPUT: &str = "model_predict_output";

/// A token with its byte range in the statement text.
#[derive(Debug, Clone)]
pub struct Lexeme {
    /// The token.
    pub token: Token,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset after the last character.
    pub end: usize,
}

impl Lexeme {
    /// The uppercase word if this is an unquoted word.
    pub fn keyword(&self) -> Option<String> {
        match &self.token {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        }
    }

    /// Whether this is the unquoted word `word` (uppercase).
    pub fn is(&self, word: &str) -> bool {
        self.keyword().as_deref() == Some(word)
    }
}

/// Tokenizes `sql`, dropping whitespace and comments.
pub fn lex(sql: &str) -> EngineResult<Vec<Lexeme>> {
    let dialect = MySqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| {
            error::SqlError::new(
                1064,
                "42000",
                format!("You have an error in your SQL syntax; {e}"),
            )
        })?;
    // Token locations are (line, column) in characters. One pass records
    // the byte offset of every character and the first character of every
    // line, so each lookup is O(1) and lexing stays linear in the length.
    let mut char_starts = Vec::with_capacity(sql.len());
    let mut line_first_chars = vec![0usize];
    for (index, (byte, c)) in sql.char_indices().enumerate() {
        char_starts.push(byte);
        if c == '\n' {
            line_first_chars.push(index + 1);
        }
    }
    let offset = |line: u64, column: u64| -> usize {
        let Some(&first) = line_first_chars.get(line.saturating_sub(1) as usize) else {
            return sql.len();
        };
        let index = first + column.saturating_sub(1) as usize;
        char_starts.get(index).copied().unwrap_or(sql.len())
    };
    let mut out = Vec::new();
    for t in tokens {
        if matches!(t.token, Token::Whitespace(_) | Token::EOF) {
            continue;
        }
        let start = offset(t.span.start.line, t.span.start.column);
        let end = offset(t.span.end.line, t.span.end.column);
        out.push(Lexeme {
            token: t.token,
            start,
            end,
        });
    }
    Ok(out)
}

const AS_OF_TERMINATORS: &[&str] = &[
    "WHERE",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "CROSS",
    "STRAIGHT_JOIN",
    "NATURAL",
    "ON",
    "USING",
    "GROUP",
    "ORDER",
    "LIMIT",
    "HAVING",
    "UNION",
    "FOR",
    "AS",
    "WINDOW",
    "LOCK",
];

/// Removes every `AS OF TIMESTAMP <expr>` clause, returning the rewritten
/// statement and the expression texts in order.
pub fn extract_as_of(sql: &str) -> EngineResult<(String, Vec<String>)> {
    let lexemes = lex(sql)?;
    let mut out = String::new();
    let mut copied_to = 0;
    let mut expressions = Vec::new();
    let mut i = 0;
    while i + 2 < lexemes.len() {
        if !(lexemes[i].is("AS") && lexemes[i + 1].is("OF") && lexemes[i + 2].is("TIMESTAMP")) {
            i += 1;
            continue;
        }
        let mut j = i + 3;
        let mut depth = 0i32;
        while j < lexemes.len() {
            let lexeme = &lexemes[j];
            match &lexeme.token {
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => break,
                Token::RParen => depth -= 1,
                Token::Comma | Token::SemiColon if depth == 0 => break,
                _ if depth == 0
                    && lexeme
                        .keyword()
                        .is_some_and(|k| AS_OF_TERMINATORS.contains(&k.as_str())) =>
                {
                    break
                }
                _ => {}
            }
            j += 1;
        }
        if j == i + 3 {
            return Err(error::syntax(&sql[lexemes[i].start..]));
        }
        expressions.push(sql[lexemes[i + 3].start..lexemes[j - 1].end].to_string());
        out.push_str(&sql[copied_to..lexemes[i].start]);
        out.push(' ');
        copied_to = lexemes[j - 1].end;
        i = j;
    }
    out.push_str(&sql[copied_to..]);
    Ok((out, expressions))
}

/// Rewrites `MODEL_PREDICT(args).name` to
/// `MODEL_PREDICT_OUTPUT(args, 'name')`; other text is unchanged.
pub fn rewrite_model_predict(sql: &str) -> EngineResult<String> {
    let lexemes = lex(sql)?;
    let mut out = String::new();
    let mut copied_to = 0;
    let mut i = 0;
    while i + 1 < lexemes.len() {
        if !(lexemes[i].is("MODEL_PREDICT") && lexemes[i + 1].token == Token::LParen) {
            i += 1;
            continue;
        }
        let mut depth = 0;
        let mut close = None;
        for (k, lexeme) in lexemes.iter().enumerate().skip(i + 1) {
            match lexeme.token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(k);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(close) = close else {
            return Err(error::syntax(&sql[lexemes[i].start..]));
        };
        let output = match (lexemes.get(close + 1), lexemes.get(close + 2)) {
            (Some(dot), Some(name)) if dot.token == Token::Period => match &name.token {
                Token::Word(w) => Some((w.value.clone(), name.end)),
                _ => None,
            },
            _ => None,
        };
        // The tokenizer may read `).score` as `)` followed by the number-like
        // word `.score`; handle that spelling too.
        let output = output.or_else(|| match lexemes.get(close + 1).map(|l| &l.token) {
            Some(Token::Word(w)) if w.value.starts_with('.') => {
                Some((w.value[1..].to_string(), lexemes[close + 1].end))
            }
            _ => None,
        });
        let Some((name, end)) = output else {
            i = close + 1;
            continue;
        };
        out.push_str(&sql[copied_to..lexemes[i].start]);
        out.push_str(MODEL_PREDICT_OUTPUT);
        out.push_str(&sql[lexemes[i + 1].start..lexemes[close].start]);
        out.push_str(&format!(", '{}')", name.replace('\'', "''")));
        copied_to = end;
        i = close + 1;
    }
    out.push_str(&sql[copied_to..]);
    Ok(out)
}

const SELECT_LIST_END: &[&str] = &[
    "FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "INTO", "UNION", "FOR", "WINDOW",
];

/// The original text of each item of the first top-level select list.
pub fn select_item_texts(sql: &str) -> EngineResult<Vec<String>> {
    let lexemes = lex(sql)?;
    let Some(select) = lexemes.iter().position(|l| l.is("SELECT")) else {
        return Ok(Vec::new());
    };
    let mut i = select + 1;
    while i < lexemes.len()
        && lexemes[i].keyword().is_some_and(|k| {
            matches!(
                k.as_str(),
                "DISTINCT"
                    | "ALL"
                    | "DISTINCTROW"
                    | "SQL_NO_CACHE"
                    | "SQL_CACHE"
                    | "STRAIGHT_JOIN"
                    | "HIGH_PRIORITY"
            )
        })
    {
        i += 1;
    }
    let mut items = Vec::new();
    let mut item_start = i;
    let mut depth = 0;
    while i < lexemes.len() {
        let lexeme = &lexemes[i];
        match &lexeme.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                if item_start < i {
                    items.push(sql[lexemes[item_start].start..lexemes[i - 1].end].to_string());
                }
                item_start = i + 1;
            }
            Token::SemiColon if depth == 0 => break,
            _ if depth == 0
                && lexeme
                    .keyword()
                    .is_some_and(|k| SELECT_LIST_END.contains(&k.as_str())) =>
            {
                break
            }
            _ => {}
        }
        i += 1;
    }
    if item_start < i {
        items.push(sql[lexemes[item_start].start..lexemes[i - 1].end].to_string());
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_is_extracted() {
        let cases = [
            (
                "select * from t as of timestamp '2020-01-01 00:00:00' where a = 1",
                "select * from t   where a = 1",
                vec!["'2020-01-01 00:00:00'"],
            ),
            (
                "select * from t AS OF TIMESTAMP now(6) - interval 1 second",
                "select * from t  ",
                vec!["now(6) - interval 1 second"],
            ),
            (
                "select * from t as of timestamp @a, s as of timestamp @b",
                "select * from t  , s  ",
                vec!["@a", "@b"],
            ),
            ("select * from t", "select * from t", vec![]),
        ];
        for (input, rewritten, expressions) in cases {
            let (text, found) = extract_as_of(input).unwrap();
            assert_eq!(text, rewritten, "{input}");
            assert_eq!(found, expressions, "{input}");
        }
    }

    #[test]
    fn model_predict_output_is_rewritten() {
        let rewritten = rewrite_model_predict(
            "SELECT MODEL_PREDICT(m, a, f(b)).score FROM t WHERE MODEL_PREDICT(m, a, b).p > 0.5",
        )
        .unwrap();
        assert_eq!(
            rewritten,
            "SELECT model_predict_output(m, a, f(b), 'score') FROM t WHERE model_predict_output(m, a, b, 'p') > 0.5"
        );
        let untouched = "SELECT MODEL_PREDICT(m, a) FROM t";
        assert_eq!(rewrite_model_predict(untouched).unwrap(), untouched);
    }

    #[test]
    fn select_items_keep_their_text() {
        let items =
            select_item_texts("SELECT 1+1, count(*) AS n,  CONCAT('a', 'b')  FROM t").unwrap();
        assert_eq!(items, vec!["1+1", "count(*) AS n", "CONCAT('a', 'b')"]);
        let items = select_item_texts("select distinct a , f(b, c)").unwrap();
        assert_eq!(items, vec!["a", "f(b, c)"]);
    }
}
