//! A recursive-descent parser. Precedence, loosest first: comparison, `&`, `+ -`, `* /`, unary minus.

use super::lexer::Token;

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Num(f64),
    Str(String),
    Bool(bool),
    Field(String),
    Call(String, Vec<Expr>),
    Neg(Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
}

pub fn parse(tokens: &[Token]) -> Result<Expr, String> {
    let mut parser = Parser { tokens, at: 0 };
    let expr = parser.comparison()?;
    match parser.peek() {
        None => Ok(expr),
        Some(token) => Err(format!("unexpected {token:?}")),
    }
}

struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
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

    fn binary(&mut self, ops: &[&'static str], operand: fn(&mut Self) -> Result<Expr, String>) -> Result<Expr, String> {
        let mut left = operand(self)?;
        while let Some(Token::Op(op)) = self.peek() {
            let Some(op) = ops.iter().find(|o| *o == op).copied() else { break };
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(operand(self)?));
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        self.binary(&["=", "!=", "<", ">", "<=", ">="], Self::concat)
    }

    fn concat(&mut self) -> Result<Expr, String> {
        self.binary(&["&"], Self::additive)
    }

    fn additive(&mut self) -> Result<Expr, String> {
        self.binary(&["+", "-"], Self::multiplicative)
    }

    fn multiplicative(&mut self) -> Result<Expr, String> {
        self.binary(&["*", "/"], Self::unary)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Token::Op("-")) {
            self.at += 1;
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Token::Num(n)) => Ok(Expr::Num(n)),
            Some(Token::Str(s)) => Ok(Expr::Str(s)),
            Some(Token::Field(f)) => Ok(Expr::Field(f)),
            Some(Token::Open) => {
                let inner = self.comparison()?;
                self.expect_close()?;
                Ok(inner)
            }
            Some(Token::Name(name)) if self.peek() == Some(&Token::Open) => {
                self.at += 1;
                let mut args = Vec::new();
                if self.peek() != Some(&Token::Close) {
                    loop {
                        args.push(self.comparison()?);
                        if self.peek() == Some(&Token::Comma) {
                            self.at += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.expect_close()?;
                Ok(Expr::Call(name.to_uppercase(), args))
            }
            Some(Token::Name(name)) if name.eq_ignore_ascii_case("true") => Ok(Expr::Bool(true)),
            Some(Token::Name(name)) if name.eq_ignore_ascii_case("false") => Ok(Expr::Bool(false)),
            // A bare one-word name is a field reference, as in Airtable.
            Some(Token::Name(name)) => Ok(Expr::Field(name)),
            Some(token) => Err(format!("unexpected {token:?}")),
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
        let Expr::Binary("=", left, right) = expr else { panic!("not a comparison") };
        assert!(matches!(*left, Expr::Binary("+", _, _)));
        assert!(matches!(*right, Expr::Binary("&", _, _)));
    }

    #[test]
    fn function_names_are_case_insensitive_and_unbalanced_parentheses_fail() {
        assert_eq!(parse(&tokenize("and()").unwrap()).unwrap(), Expr::Call("AND".into(), vec![]));
        assert!(parse(&tokenize("AND({A}, 1").unwrap()).is_err());
        assert!(parse(&tokenize("1 2").unwrap()).is_err());
    }
}
