//! A recursive-descent parser. Precedence, loosest first: comparison, `&`, `+ -`, `* /`, unary minus.
//!
//! Bounded so that no formula can exhaust the stack, here or later: the parser recurses only into a
//! parenthesised group, a function's arguments or a unary minus, and counts those levels (at most
//! [`MAX_NESTING`]); a run of binary operators at one level (`1+1+…+1`) is one flat [`Expr::Chain`], not a
//! deep tree. So every tree built here is at most about five nodes deep per level, and the walks over it
//! (the field check, evaluation, drop) are bounded too.

use super::lexer::Token;

/// How deeply parentheses, function calls and unary minus signs may nest. Real formulas (pyairtable's
/// helpers, hand-written ones) stay well below a dozen levels; anything deeper is refused with
/// `INVALID_FILTER_BY_FORMULA`, as any malformed formula is.
pub const MAX_NESTING: usize = 64;

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Num(f64),
    Str(String),
    Bool(bool),
    Field(String),
    Call(String, Vec<Expr>),
    Neg(Box<Expr>),
    /// `first op₁ e₁ op₂ e₂ …` of one precedence level, evaluated left to right (left-associative).
    Chain(Box<Expr>, Vec<(&'static str, Expr)>),
}

pub fn parse(tokens: &[Token]) -> Result<Expr, String> {
    let mut parser = Parser { tokens, at: 0, depth: 0 };
    let expr = parser.comparison()?;
    match parser.peek() {
        None => Ok(expr),
        Some(token) => Err(format!("unexpected {}", describe(token))),
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Num(n) => format!("number {n}"),
        Token::Str(_) => "text".into(),
        Token::Field(name) => format!("field {{{name}}}"),
        Token::Name(name) => format!("name {name}"),
        Token::Op(op) => format!("operator {op}"),
        Token::Open => "'('".into(),
        Token::Close => "')'".into(),
        Token::Comma => "','".into(),
    }
}

struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
    /// Nesting levels entered (parentheses, argument lists, unary minus).
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    /// Runs `inner` one nesting level down, refusing past [`MAX_NESTING`].
    fn nested(&mut self, inner: impl FnOnce(&mut Self) -> Result<Expr, String>) -> Result<Expr, String> {
        if self.depth >= MAX_NESTING {
            return Err(format!("the formula nests parentheses, functions or signs more than {MAX_NESTING} deep"));
        }
        self.depth += 1;
        let result = inner(self);
        self.depth -= 1;
        result
    }

    fn chain(&mut self, ops: &[&'static str], operand: fn(&mut Self) -> Result<Expr, String>) -> Result<Expr, String> {
        let first = operand(self)?;
        let mut rest = Vec::new();
        while let Some(Token::Op(op)) = self.peek() {
            let Some(op) = ops.iter().find(|o| *o == op).copied() else { break };
            self.at += 1;
            rest.push((op, operand(self)?));
        }
        Ok(if rest.is_empty() { first } else { Expr::Chain(Box::new(first), rest) })
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        self.chain(&["=", "!=", "<", ">", "<=", ">="], Self::concat)
    }

    fn concat(&mut self) -> Result<Expr, String> {
        self.chain(&["&"], Self::additive)
    }

    fn additive(&mut self) -> Result<Expr, String> {
        self.chain(&["+", "-"], Self::multiplicative)
    }

    fn multiplicative(&mut self) -> Result<Expr, String> {
        self.chain(&["*", "/"], Self::unary)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Token::Op("-")) {
            self.at += 1;
            return self.nested(|p| Ok(Expr::Neg(Box::new(p.unary()?))));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Token::Num(n)) => Ok(Expr::Num(n)),
            Some(Token::Str(s)) => Ok(Expr::Str(s)),
            Some(Token::Field(f)) => Ok(Expr::Field(f)),
            Some(Token::Open) => self.nested(|p| {
                let inner = p.comparison()?;
                p.expect_close()?;
                Ok(inner)
            }),
            Some(Token::Name(name)) if self.peek() == Some(&Token::Open) => {
                self.at += 1;
                self.nested(|p| {
                    let mut args = Vec::new();
                    if p.peek() != Some(&Token::Close) {
                        loop {
                            args.push(p.comparison()?);
                            if p.peek() == Some(&Token::Comma) {
                                p.at += 1;
                            } else {
                                break;
                            }
                        }
                    }
                    p.expect_close()?;
                    Ok(Expr::Call(name.to_uppercase(), args))
                })
            }
            Some(Token::Name(name)) if name.eq_ignore_ascii_case("true") => Ok(Expr::Bool(true)),
            Some(Token::Name(name)) if name.eq_ignore_ascii_case("false") => Ok(Expr::Bool(false)),
            // A bare one-word name is a field reference, as in Airtable.
            Some(Token::Name(name)) => Ok(Expr::Field(name)),
            Some(token) => Err(format!("unexpected {}", describe(&token))),
            None => Err("unexpected end of formula".into()),
        }
    }

    fn expect_close(&mut self) -> Result<(), String> {
        match self.next() {
            Some(Token::Close) => Ok(()),
            _ => Err("missing closing parenthesis".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::lexer::tokenize;
    use super::*;

    #[test]
    fn comparison_binds_looser_than_arithmetic_and_concatenation() {
        let expr = parse(&tokenize("{A} + 1 * 2 = 'x' & 'y'").unwrap()).unwrap();
        let Expr::Chain(left, rest) = expr else { panic!("not a comparison") };
        assert!(matches!(*left, Expr::Chain(_, ref ops) if ops[0].0 == "+"));
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].0, "=");
        assert!(matches!(&rest[0].1, Expr::Chain(_, ops) if ops[0].0 == "&"));
    }

    #[test]
    fn function_names_are_case_insensitive_and_unbalanced_parentheses_fail() {
        assert_eq!(parse(&tokenize("and()").unwrap()).unwrap(), Expr::Call("AND".into(), vec![]));
        assert!(parse(&tokenize("AND({A}, 1").unwrap()).is_err());
        assert!(parse(&tokenize("1 2").unwrap()).is_err());
    }

    #[test]
    fn a_long_run_of_operators_is_one_flat_chain() {
        let source = vec!["1"; 5000].join("+");
        let Expr::Chain(_, rest) = parse(&tokenize(&source).unwrap()).unwrap() else { panic!("not a chain") };
        assert_eq!(rest.len(), 4999);
    }

    #[test]
    fn nesting_is_bounded_for_parentheses_calls_and_signs() {
        let at_limit = format!("{}1{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert!(parse(&tokenize(&at_limit).unwrap()).is_ok());
        let too_deep = [
            format!("{}1{}", "(".repeat(MAX_NESTING + 1), ")".repeat(MAX_NESTING + 1)),
            format!("{}1{}", "NOT(".repeat(MAX_NESTING + 1), ")".repeat(MAX_NESTING + 1)),
            format!("{}1", "-".repeat(MAX_NESTING + 1)),
        ];
        for source in too_deep {
            let err = parse(&tokenize(&source).unwrap()).unwrap_err();
            assert!(err.contains("more than 64 deep"), "{err}");
        }
    }
}
