//! Tokens of Airtable's formula language: numbers, 'single' or "double" quoted strings with backslash
//! escapes, `{Field Name}` references (`\}` escapes a brace, as pyairtable writes it), names, operators.

#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    Num(f64),
    Str(String),
    Field(String),
    Name(String),
    Op(&'static str),
    Open,
    Close,
    Comma,
}

pub fn tokenize(source: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => push(&mut tokens, &mut i, Token::Open),
            ')' => push(&mut tokens, &mut i, Token::Close),
            ',' => push(&mut tokens, &mut i, Token::Comma),
            '\'' | '"' => {
                let (text, next) = quoted(&chars, i, c)?;
                tokens.push(Token::Str(text));
                i = next;
            }
            '{' => {
                let (name, next) = quoted(&chars, i, '}')?;
                tokens.push(Token::Field(name));
                i = next;
            }
            c if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                tokens.push(Token::Num(text.parse().map_err(|_| format!("invalid number {text}"))?));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                tokens.push(Token::Name(chars[start..i].iter().collect()));
            }
            _ => {
                let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
                let op = ["!=", "<>", "<=", ">="]
                    .into_iter()
                    .find(|op| two == *op)
                    .or_else(|| ["=", "<", ">", "&", "+", "-", "*", "/"].into_iter().find(|op| op.starts_with(c)))
                    .ok_or_else(|| format!("unexpected character '{c}'"))?;
                tokens.push(Token::Op(if op == "<>" { "!=" } else { op }));
                i += op.len();
            }
        }
    }
    Ok(tokens)
}

fn push(tokens: &mut Vec<Token>, i: &mut usize, token: Token) {
    tokens.push(token);
    *i += 1;
}

/// Reads from the opening delimiter at `start` to `close`; returns the text and the index after it.
fn quoted(chars: &[char], start: usize, close: char) -> Result<(String, usize), String> {
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                text.push(match chars[i + 1] {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
                i += 2;
            }
            c if c == close => return Ok((text, i + 1)),
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    Err(format!("unterminated {}", if close == '}' { "field reference" } else { "string" }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn escapes_inside_strings_and_field_names_are_honoured() {
        let tokens = tokenize(r"{Guest\}s}='Jane\'s' & 2.5").unwrap();
        assert_eq!(
            tokens,
            vec![
                Token::Field("Guest}s".into()),
                Token::Op("="),
                Token::Str("Jane's".into()),
                Token::Op("&"),
                Token::Num(2.5)
            ]
        );
    }

    #[test]
    fn an_unterminated_string_is_an_error() {
        assert!(tokenize("{Name}='oops").is_err());
    }
}
