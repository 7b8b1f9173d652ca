//! Where the parser's reading of the text could differ from PostgreSQL's,
//! the text is refused before it is parsed.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::{Refusal, refuse};

/// PostgreSQL keeps the first 63 bytes of an identifier (`NAMEDATALEN` - 1)
/// and drops the rest with a notice.
pub(super) const MAX_IDENTIFIER_BYTES: usize = 63;

/// Refuse dollar-quote tags PostgreSQL's lexer does not accept, and
/// identifiers it would truncate: in both cases the server would read
/// another query than the one checked.
pub(super) fn agree_with_postgres(sql: &str) -> Result<(), Refusal> {
    // A text that does not tokenize does not parse either; the parser says why.
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return Ok(());
    };
    for token in tokens {
        match token {
            Token::DollarQuotedString(s) => {
                if let Some(tag) = s.tag.filter(|t| !dollar_tag(t)) {
                    return refuse(
                        "sql.dollar_quote",
                        format!(
                            "`${tag}$` is not a dollar quote to PostgreSQL, which would read the text differently"
                        ),
                    );
                }
            }
            Token::Word(w) if w.value.len() > MAX_IDENTIFIER_BYTES => {
                return refuse(
                    "sql.identifier",
                    format!(
                        "`{}...` is longer than PostgreSQL's {MAX_IDENTIFIER_BYTES}-byte identifier limit, past which it truncates the name",
                        truncated(&w.value)
                    ),
                );
            }
            _ => {}
        }
    }
    Ok(())
}

/// PostgreSQL's lexer: a tag starts with a letter, `_` or a non-ASCII byte,
/// and goes on with those or digits.
fn dollar_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    let start = |c: char| c.is_ascii_alphabetic() || c == '_' || !c.is_ascii();
    match chars.next() {
        Some(c) if start(c) => chars.all(|c| start(c) || c.is_ascii_digit()),
        _ => false,
    }
}

/// The first few characters of a long name, for the diagnostic.
fn truncated(name: &str) -> String {
    name.chars().take(20).collect()
}
