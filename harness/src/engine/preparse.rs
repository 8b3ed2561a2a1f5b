//! Token-level rewrites for TiDB syntax that sqlparser does not accept,
//! applied before parsing, and recovery of the original text of select
//! items (MySQL names an unaliased result column after its text).
//!
//! - `t AS OF TIMESTAMP <expr>` on table references is cut out, and the
//!   expression text is returned for the caller to evaluate.
//! - `MODEL_PREDICT(m, a, b).score` becomes
//!   `MODEL_PREDICT_OUTPUT(m, a, b, 'score')`.
//!
//! Each rewrite also returns an [`OffsetMap`], so a syntax error found in
//! the rewritten text is reported at its place in the text as written.

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

/// Maps byte offsets of a rewritten statement back to the text it was
/// rewritten from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetMap {
    /// Pieces of the rewritten text, in order.
    pieces: Vec<Piece>,
    /// Length of the rewritten text.
    rewritten_len: usize,
    /// Length of the source text.
    source_len: usize,
}

/// A piece of rewritten text: a copy of source text, or text that
/// replaces the source text starting at `source_start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Piece {
    rewritten_start: usize,
    source_start: usize,
    copied: bool,
}

impl OffsetMap {
    /// Returns the source offset of a byte offset of the rewritten text.
    /// Offsets in copied text map byte for byte, offsets in replacement
    /// text map to the start of the source text it replaced, and the end
    /// of the rewritten text maps to the end of the source.
    pub fn source_offset(&self, offset: usize) -> usize {
        if offset >= self.rewritten_len {
            return self.source_len;
        }
        let index = self
            .pieces
            .partition_point(|piece| piece.rewritten_start <= offset);
        let Some(piece) = index.checked_sub(1).map(|i| self.pieces[i]) else {
            return offset.min(self.source_len);
        };
        if piece.copied {
            (piece.source_start + offset - piece.rewritten_start).min(self.source_len)
        } else {
            piece.source_start
        }
    }
}

/// Builds rewritten text and its [`OffsetMap`] together.
struct Rewriter<'a> {
    source: &'a str,
    out: String,
    map: OffsetMap,
}

impl<'a> Rewriter<'a> {
    fn new(source: &'a str) -> Rewriter<'a> {
        Rewriter {
            source,
            out: String::with_capacity(source.len()),
            map: OffsetMap {
                source_len: source.len(),
                ..OffsetMap::default()
            },
        }
    }

    /// Appends the source text in `start..end`.
    fn copy(&mut self, start: usize, end: usize) {
        if start < end {
            self.push_piece(start, true);
            self.out.push_str(&self.source[start..end]);
        }
    }

    /// Appends `text` in place of source text that starts at `source_start`.
    fn replace(&mut self, text: &str, source_start: usize) {
        if !text.is_empty() {
            self.push_piece(source_start, false);
            self.out.push_str(text);
        }
    }

    fn push_piece(&mut self, source_start: usize, copied: bool) {
        self.map.pieces.push(Piece {
            rewritten_start: self.out.len(),
            source_start,
            copied,
        });
    }

    fn finish(mut self) -> (String, OffsetMap) {
        self.map.rewritten_len = self.out.len();
        (self.out, self.map)
    }
}

/// Removes every `AS OF TIMESTAMP <expr>` clause, returning the rewritten
/// statement, the expression texts in order, and the offset map back to
/// `sql`.
pub fn extract_as_of(sql: &str) -> EngineResult<(String, Vec<String>, OffsetMap)> {
    let lexemes = lex(sql)?;
    let mut out = Rewriter::new(sql);
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
        out.copy(copied_to, lexemes[i].start);
        out.replace(" ", lexemes[i].start);
        copied_to = lexemes[j - 1].end;
        i = j;
    }
    out.copy(copied_to, sql.len());
    let (text, map) = out.finish();
    Ok((text, expressions, map))
}

/// Rewrites `MODEL_PREDICT(args).name` to
/// `MODEL_PREDICT_OUTPUT(args, 'name')`; other text is unchanged.
pub fn rewrite_model_predict(sql: &str) -> EngineResult<String> {
    rewrite_model_predict_mapped(sql).map(|(text, _)| text)
}

/// Runs [`rewrite_model_predict`] and also returns the offset map back to
/// `sql`.
pub fn rewrite_model_predict_mapped(sql: &str) -> EngineResult<(String, OffsetMap)> {
    let lexemes = lex(sql)?;
    let mut out = Rewriter::new(sql);
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
        // The arguments are copied, so an error inside them keeps its
        // place. The new name maps to the call's name, and the added
        // output to its closing parenthesis.
        out.copy(copied_to, lexemes[i].start);
        out.replace(MODEL_PREDICT_OUTPUT, lexemes[i].start);
        out.copy(lexemes[i + 1].start, lexemes[close].start);
        out.replace(
            &format!(", '{}')", name.replace('\'', "''")),
            lexemes[close].start,
        );
        copied_to = end;
        i = close + 1;
    }
    out.copy(copied_to, sql.len());
    Ok(out.finish())
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
            let (text, found, _) = extract_as_of(input).unwrap();
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
    fn model_predict_offsets_map_to_the_source() {
        let source = "SELECT MODEL_PREDICT(m, a).score + x FROM t";
        let (rewritten, map) = rewrite_model_predict_mapped(source).unwrap();
        assert_eq!(
            rewritten,
            "SELECT model_predict_output(m, a, 'score') + x FROM t"
        );
        // Copied text maps byte for byte, before and after the call.
        assert_eq!(map.source_offset(0), 0);
        let plus = rewritten.find('+').unwrap();
        assert_eq!(map.source_offset(plus), source.find('+').unwrap());
        // The new name maps to the call's name, the arguments to
        // themselves, and the added output to the closing parenthesis.
        assert_eq!(map.source_offset(7), 7);
        assert_eq!(map.source_offset(10), 7);
        let argument = rewritten.find("a,").unwrap();
        assert_eq!(map.source_offset(argument), source.find("a)").unwrap());
        let added = rewritten.find("'score'").unwrap();
        assert_eq!(map.source_offset(added), source.find(").score").unwrap());
        // The end maps to the end.
        assert_eq!(map.source_offset(rewritten.len()), source.len());
    }

    #[test]
    fn as_of_offsets_map_to_the_source() {
        let source = "select * from t as of timestamp @a where b = 1";
        let (rewritten, _, map) = extract_as_of(source).unwrap();
        assert_eq!(rewritten, "select * from t   where b = 1");
        let b = rewritten.find('b').unwrap();
        assert_eq!(map.source_offset(b), source.find('b').unwrap());
        assert_eq!(map.source_offset(15), 15);
        assert_eq!(map.source_offset(16), source.find("as of").unwrap());
        assert_eq!(map.source_offset(rewritten.len()), source.len());
    }

    #[test]
    fn untouched_text_maps_to_itself() {
        let source = "SELECT MODEL_PREDICT(m, a) FROM t";
        let (rewritten, map) = rewrite_model_predict_mapped(source).unwrap();
        assert_eq!(rewritten, source);
        for offset in 0..=source.len() {
            assert_eq!(map.source_offset(offset), offset);
        }
        let (_, map) = rewrite_model_predict_mapped("").unwrap();
        assert_eq!(map.source_offset(0), 0);
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
