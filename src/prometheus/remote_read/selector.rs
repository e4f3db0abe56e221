//! Parsing of a PromQL vector selector (`metric`, `metric{a="b"}`, `{a=~"b.*",c!="d"}`) into the
//! label matchers a remote-read query carries.
//!
//! Remote read takes matchers, not PromQL, so the selector a user wrote must be parsed here. It
//! follows Prometheus 2.x's lexer: Go string literals in `"`, `'` or `` ` `` quotes, whitespace
//! between tokens, a trailing comma; and its parser's rules: the metric name at most once, and at
//! least one matcher that does not match the empty string (otherwise every series would match).
//! Anything else (a function call, a range `[5m]`, `offset`, an operator) is refused.

use regex::Regex;

/// How a matcher compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~`, anchored at both ends as in Prometheus.
    Re,
    /// `!~`, anchored at both ends as in Prometheus.
    Nre,
}

/// One label matcher; the metric name is a matcher on `__name__`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub op: MatchOp,
    pub name: String,
    pub value: String,
}

/// Why a selector was refused; offsets are in bytes from the start of the selector.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SelectorError {
    #[error("empty selector")]
    Empty,
    #[error("unexpected {found} at offset {offset}: expected {expected}")]
    Unexpected {
        offset: usize,
        found: String,
        expected: &'static str,
    },
    #[error("unterminated string starting at offset {offset}")]
    UnterminatedString { offset: usize },
    #[error("invalid escape in string at offset {offset}: {reason}")]
    BadEscape { offset: usize, reason: &'static str },
    #[error("metric name must not be set twice (at offset {offset})")]
    NameTwice { offset: usize },
    #[error("invalid regex for label {name}: {message}")]
    InvalidRegex { name: String, message: String },
    #[error(
        "vector selector must contain at least one matcher that does not match the empty string"
    )]
    MatchesEmpty,
}

/// Parses `selector` into its matchers, in written order (metric name first).
pub fn parse_selector(selector: &str) -> Result<Vec<Matcher>, SelectorError> {
    let mut p = Parser {
        s: selector,
        pos: 0,
    };
    p.skip_ws();
    if p.peek().is_none() {
        return Err(SelectorError::Empty);
    }
    let mut matchers = Vec::new();
    let has_name = p
        .peek()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if has_name {
        let name = p.ident(true);
        matchers.push(Matcher {
            op: MatchOp::Eq,
            name: "__name__".into(),
            value: name.into(),
        });
        p.skip_ws();
    }
    if p.peek() == Some('{') {
        p.pos += 1;
        p.braces(&mut matchers, has_name)?;
        p.skip_ws();
    }
    if let Some(c) = p.peek() {
        let expected = match c {
            '[' => "the end of the selector (range selectors are not allowed)",
            '(' => "the end of the selector (function calls are not allowed)",
            '{' if !has_name => "a label matcher",
            _ => "the end of a vector selector",
        };
        return Err(p.unexpected(expected));
    }
    let mut non_empty = false;
    for m in &matchers {
        non_empty |= !matches_empty(m)?;
    }
    if !non_empty {
        return Err(SelectorError::MatchesEmpty);
    }
    Ok(matchers)
}

/// Whether `m` matches the empty string (the value of a label a series lacks).
fn matches_empty(m: &Matcher) -> Result<bool, SelectorError> {
    Ok(match m.op {
        MatchOp::Eq => m.value.is_empty(),
        MatchOp::Neq => !m.value.is_empty(),
        MatchOp::Re | MatchOp::Nre => {
            let re = Regex::new(&format!("^(?:{})$", m.value)).map_err(|e| {
                SelectorError::InvalidRegex {
                    name: m.name.clone(),
                    message: e.to_string(),
                }
            })?;
            re.is_match("") == (m.op == MatchOp::Re)
        }
    })
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos..)?.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn unexpected(&self, expected: &'static str) -> SelectorError {
        let found = match self.peek() {
            Some(c) => format!("{c:?}"),
            None => "end of selector".into(),
        };
        SelectorError::Unexpected {
            offset: self.pos,
            found,
            expected,
        }
    }

    /// A metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) or label name (no colons); may be empty.
    fn ident(&mut self, metric: bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let ok = c.is_ascii_alphabetic()
                || c == '_'
                || (metric && c == ':')
                || (self.pos > start && c.is_ascii_digit());
            if !ok {
                break;
            }
            self.pos += 1;
        }
        self.s.get(start..self.pos).unwrap_or_default()
    }

    /// The matchers after `{`, through the closing `}`.
    fn braces(&mut self, out: &mut Vec<Matcher>, has_name: bool) -> Result<(), SelectorError> {
        loop {
            self.skip_ws();
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(());
            }
            let at = self.pos;
            let name = self.ident(false);
            if name.is_empty() {
                return Err(self.unexpected("a label name or '}'"));
            }
            if has_name && name == "__name__" {
                return Err(SelectorError::NameTwice { offset: at });
            }
            self.skip_ws();
            let rest = self.s.get(self.pos..).unwrap_or_default();
            let (op, len) = if rest.starts_with("=~") {
                (MatchOp::Re, 2)
            } else if rest.starts_with("!=") {
                (MatchOp::Neq, 2)
            } else if rest.starts_with("!~") {
                (MatchOp::Nre, 2)
            } else if rest.starts_with('=') {
                (MatchOp::Eq, 1)
            } else {
                return Err(self.unexpected("one of =, !=, =~, !~"));
            };
            self.pos += len;
            self.skip_ws();
            let value = self.string()?;
            out.push(Matcher {
                op,
                name: name.into(),
                value,
            });
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                _ => return Err(self.unexpected("',' or '}'")),
            }
        }
    }

    /// A Go string literal: `"…"` or `'…'` with escapes, or a raw `` `…` ``.
    fn string(&mut self) -> Result<String, SelectorError> {
        let start = self.pos;
        let quote = match self.peek() {
            Some(q @ ('"' | '\'' | '`')) => q,
            _ => return Err(self.unexpected("a quoted string")),
        };
        self.pos += 1;
        let unterminated = SelectorError::UnterminatedString { offset: start };
        if quote == '`' {
            let rest = self.s.get(self.pos..).unwrap_or_default();
            let end = rest.find('`').ok_or(unterminated)?;
            self.pos += end + 1;
            // Go drops carriage returns from raw strings.
            return Ok(rest.get(..end).unwrap_or_default().replace('\r', ""));
        }
        let mut bytes = Vec::new();
        loop {
            let c = self.bump().ok_or(unterminated.clone())?;
            match c {
                '\n' => return Err(unterminated),
                c if c == quote => break,
                '\\' => self.escape(quote, &mut bytes)?,
                c => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        String::from_utf8(bytes).map_err(|_| SelectorError::BadEscape {
            offset: start,
            reason: "escapes make invalid UTF-8",
        })
    }

    /// The escape after a backslash, as Go's `strconv.UnquoteChar`.
    fn escape(&mut self, quote: char, out: &mut Vec<u8>) -> Result<(), SelectorError> {
        let at = self.pos - 1;
        let bad = |reason| SelectorError::BadEscape { offset: at, reason };
        let c = self.bump().ok_or(bad("backslash at end"))?;
        let simple = match c {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        let (digits, radix) = match c {
            '0'..='7' => (2, 8),
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            _ => return Err(bad("unknown escape sequence")),
        };
        let mut v: u32 = if radix == 8 { c as u32 - '0' as u32 } else { 0 };
        for _ in 0..digits {
            let d = self
                .bump()
                .and_then(|d| d.to_digit(radix))
                .ok_or(bad("too few digits"))?;
            v = v * radix + d;
        }
        match c {
            'u' | 'U' => {
                let ch = char::from_u32(v).ok_or(bad("not a Unicode scalar value"))?;
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
            }
            _ => out.push(u8::try_from(v).map_err(|_| bad("octal value above 255"))?),
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "selector_tests.rs"]
mod tests;
