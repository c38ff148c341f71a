//! Lexer for Go `text/template` as Go 1.19 reads it — the toolchain of the Packer 1.6.6 build imgs is
//! tested against (Debian's); it differs from older Go in allowing line breaks inside actions.
//!
//! The whole input becomes one token stream: text between actions (already trimmed by `{{-`/`-}}`),
//! the delimiters, and the tokens inside actions. Comments vanish here.

use super::InterpolateError;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Ident(String),
    Keyword(Keyword),
    /// `.Name` (one link of a field chain).
    Field(String),
    Dot,
    /// `$` or `$name`, with the `$`.
    Variable(String),
    /// A decoded `"…"` or `` `…` `` literal.
    Str(String),
    Number(Number),
    Bool(bool),
    Nil,
    Pipe,
    LeftParen,
    RightParen,
    Declare,
    Assign,
    /// Any other printable ASCII character; the parser reports it as unexpected.
    Char(char),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Keyword {
    Block,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
    Break,
    Continue,
}

impl Keyword {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Keyword::Block => "block",
            Keyword::Define => "define",
            Keyword::Else => "else",
            Keyword::End => "end",
            Keyword::If => "if",
            Keyword::Range => "range",
            Keyword::Template => "template",
            Keyword::With => "with",
            Keyword::Break => "break",
            Keyword::Continue => "continue",
        }
    }
}

/// A numeric constant. Like Go's parse.NumberNode it can be an integer and a float at once (`1.0`).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub float: Option<f64>,
    /// Why the text is not a usable number. Go's parser, not its lexer, rejects such text, and only
    /// where it is used as an operand; elsewhere the token is just unexpected.
    pub invalid: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Token {
    pub tok: Tok,
    /// Byte offset of the token's first character in the input.
    pub offset: usize,
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";
/// What `{{-` and `-}}` trim, as Go's `spaceChars`.
const TRIM_CHARS: &[char] = &[' ', '\t', '\r', '\n'];

pub(super) fn lex(input: &str) -> Result<Vec<Token>, InterpolateError> {
    let mut lexer = Lexer {
        input,
        pos: 0,
        tokens: Vec::new(),
    };
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    tokens: Vec<Token>,
}

fn error(message: impl Into<String>, offset: usize) -> InterpolateError {
    InterpolateError::new(message, offset)
}

/// Go's `isSpace`: what separates words inside an action (and may follow `{{-` / precede `-}}`).
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// `- ` right after `{{`.
fn has_left_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

/// At `}}` or ` -}}`? Returns whether the delimiter trims the following text.
fn at_right_delim(s: &str) -> Option<bool> {
    let b = s.as_bytes();
    if b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-' && s[2..].starts_with(RIGHT) {
        return Some(true);
    }
    s.starts_with(RIGHT).then_some(false)
}

fn describe_char(c: char) -> String {
    format!("U+{:04X} '{c}'", c as u32)
}

impl Lexer<'_> {
    fn push(&mut self, tok: Tok, offset: usize) {
        self.tokens.push(Token { tok, offset });
    }

    fn rest(&self) -> &str {
        &self.input[self.pos..]
    }

    fn run(&mut self) -> Result<(), InterpolateError> {
        loop {
            let Some(found) = self.rest().find(LEFT) else {
                if self.pos < self.input.len() {
                    self.push(Tok::Text(self.rest().to_owned()), self.pos);
                }
                return Ok(());
            };
            let delim = self.pos + found;
            let after = delim + LEFT.len();
            let trim_left = has_left_trim_marker(&self.input[after..]);
            let mut text = &self.input[self.pos..delim];
            if trim_left {
                text = text.trim_end_matches(TRIM_CHARS);
            }
            if !text.is_empty() {
                self.push(Tok::Text(text.to_owned()), self.pos);
            }
            self.pos = after + if trim_left { 2 } else { 0 };
            if self.rest().starts_with("/*") {
                self.comment(delim)?;
            } else {
                self.push(Tok::LeftDelim, delim);
                self.action(delim)?;
            }
        }
    }

    fn after_right_delim(&mut self, trim: bool) {
        self.pos += RIGHT.len() + if trim { 2 } else { 0 };
        if trim {
            let rest = self.rest();
            self.pos += rest.len() - rest.trim_start_matches(TRIM_CHARS).len();
        }
    }

    fn comment(&mut self, delim: usize) -> Result<(), InterpolateError> {
        let Some(end) = self.rest().find("*/") else {
            return Err(error("unclosed comment", delim));
        };
        self.pos += end + 2;
        match at_right_delim(self.rest()) {
            Some(trim) => {
                self.after_right_delim(trim);
                Ok(())
            }
            None => Err(error("comment ends before closing delimiter", delim)),
        }
    }

    fn action(&mut self, delim: usize) -> Result<(), InterpolateError> {
        let mut paren_depth = 0usize;
        loop {
            if let Some(trim) = at_right_delim(self.rest()) {
                if paren_depth > 0 {
                    return Err(error("unclosed left paren", self.pos));
                }
                self.push(Tok::RightDelim, self.pos);
                self.after_right_delim(trim);
                return Ok(());
            }
            let start = self.pos;
            let Some(c) = self.rest().chars().next() else {
                return Err(error("unclosed action", delim));
            };
            let next = self.rest()[c.len_utf8()..].chars().next();
            match c {
                c if is_space(c) => self.space(),
                '=' => self.single(Tok::Assign),
                ':' => {
                    if next != Some('=') {
                        return Err(error("expected :=", start));
                    }
                    self.pos += 2;
                    self.push(Tok::Declare, start);
                }
                '|' => self.single(Tok::Pipe),
                '"' => self.quoted()?,
                '`' => self.raw_quoted()?,
                '\'' => self.char_constant()?,
                '$' => self.field_or_variable('$')?,
                '.' if !next.is_some_and(|n| n.is_ascii_digit()) => self.field_or_variable('.')?,
                '.' | '+' | '-' | '0'..='9' => self.number()?,
                c if is_alphanumeric(c) => self.identifier()?,
                '(' => {
                    paren_depth += 1;
                    self.single(Tok::LeftParen);
                }
                ')' => {
                    // Go emits a stray paren and lets the parser report it as unexpected.
                    self.single(Tok::RightParen);
                    paren_depth = paren_depth.saturating_sub(1);
                }
                c if c.is_ascii_graphic() => self.single(Tok::Char(c)),
                c => {
                    return Err(error(
                        format!("unrecognized character in action: {}", describe_char(c)),
                        start,
                    ));
                }
            }
        }
    }

    fn single(&mut self, tok: Tok) {
        let start = self.pos;
        self.pos += 1;
        self.push(tok, start);
    }

    fn space(&mut self) {
        let start = self.pos;
        let rest = self.rest();
        let count = rest.len() - rest.trim_start_matches(is_space).len();
        self.pos += count;
        // The last blank may belong to a ` -}}` closing delimiter.
        if at_right_delim(&self.input[self.pos - 1..]) == Some(true) {
            self.pos -= 1;
            if count == 1 {
                return;
            }
        }
        self.push(Tok::Space, start);
    }

    /// Go's `atTerminator`: what may follow an identifier, field or variable.
    fn at_terminator(&self) -> bool {
        match self.rest().chars().next() {
            None => true,
            Some(c) => matches!(
                c,
                ' ' | '\t' | '\r' | '\n' | '.' | ',' | '|' | ':' | ')' | '(' | '}'
            ),
        }
    }

    fn scan_word(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start_matches(is_alphanumeric).len();
    }

    fn bad_character(&self) -> InterpolateError {
        let c = self.rest().chars().next().unwrap_or(' ');
        error(format!("bad character {}", describe_char(c)), self.pos)
    }

    fn field_or_variable(&mut self, sigil: char) -> Result<(), InterpolateError> {
        let start = self.pos;
        self.pos += 1;
        if self.at_terminator() {
            self.push(
                if sigil == '$' {
                    Tok::Variable("$".into())
                } else {
                    Tok::Dot
                },
                start,
            );
            return Ok(());
        }
        self.scan_word();
        if !self.at_terminator() {
            return Err(self.bad_character());
        }
        let word = &self.input[start + 1..self.pos];
        let tok = if sigil == '$' {
            Tok::Variable(format!("${word}"))
        } else {
            Tok::Field(word.to_owned())
        };
        self.push(tok, start);
        Ok(())
    }

    fn identifier(&mut self) -> Result<(), InterpolateError> {
        let start = self.pos;
        self.scan_word();
        if !self.at_terminator() {
            return Err(self.bad_character());
        }
        let word = &self.input[start..self.pos];
        let tok = match word {
            "true" => Tok::Bool(true),
            "false" => Tok::Bool(false),
            "nil" => Tok::Nil,
            "block" => Tok::Keyword(Keyword::Block),
            "define" => Tok::Keyword(Keyword::Define),
            "else" => Tok::Keyword(Keyword::Else),
            "end" => Tok::Keyword(Keyword::End),
            "if" => Tok::Keyword(Keyword::If),
            "range" => Tok::Keyword(Keyword::Range),
            "template" => Tok::Keyword(Keyword::Template),
            "with" => Tok::Keyword(Keyword::With),
            "break" => Tok::Keyword(Keyword::Break),
            "continue" => Tok::Keyword(Keyword::Continue),
            _ => Tok::Ident(word.to_owned()),
        };
        self.push(tok, start);
        Ok(())
    }

    /// The length of the quoted text at the current position, both quotes included: escapes skip the
    /// character after the backslash; a newline or the end of input first is `unterminated`.
    fn quoted_len(&self, quote: char, unterminated: &str) -> Result<usize, InterpolateError> {
        let start = self.pos;
        let mut chars = self.rest().char_indices().skip(1);
        loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, c)) if c != '\n' => {}
                    _ => return Err(error(unterminated, start)),
                },
                Some((_, '\n')) | None => return Err(error(unterminated, start)),
                Some((i, c)) if c == quote => return Ok(i + 1),
                Some(_) => {}
            }
        }
    }

    fn quoted(&mut self) -> Result<(), InterpolateError> {
        let start = self.pos;
        let end = self.quoted_len('"', "unterminated quoted string")?;
        let body = &self.input[start + 1..start + end - 1];
        let text =
            unquote(body, '"').ok_or_else(|| error("invalid syntax in quoted string", start))?;
        self.pos = start + end;
        self.push(Tok::Str(text), start);
        Ok(())
    }

    fn raw_quoted(&mut self) -> Result<(), InterpolateError> {
        let start = self.pos;
        let Some(len) = self.input[start + 1..].find('`') else {
            return Err(error("unterminated raw quoted string", start));
        };
        // Go drops carriage returns from raw strings.
        let text = self.input[start + 1..start + 1 + len].replace('\r', "");
        self.pos = start + len + 2;
        self.push(Tok::Str(text), start);
        Ok(())
    }

    fn char_constant(&mut self) -> Result<(), InterpolateError> {
        let start = self.pos;
        let end = self.quoted_len('\'', "unterminated character constant")?;
        let text = &self.input[start..start + end];
        let decoded = unquote(&text[1..text.len() - 1], '\'')
            .filter(|s| s.chars().count() == 1)
            .ok_or_else(|| error(format!("malformed character constant: {text}"), start))?;
        let value = decoded.chars().next().map_or(0, |c| c as i64);
        self.pos = start + end;
        let number = Number {
            text: text.to_owned(),
            int: Some(value),
            float: Some(value as f64),
            invalid: None,
        };
        self.push(Tok::Number(number), start);
        Ok(())
    }

    fn number(&mut self) -> Result<(), InterpolateError> {
        let start = self.pos;
        let ok = self.scan_number();
        let text = &self.input[start..self.pos];
        if !ok {
            return Err(error(format!("bad number syntax: {text:?}"), start));
        }
        self.push(Tok::Number(parse_number(text)), start);
        Ok(())
    }

    /// Go's `scanNumber`: accept the widest thing that could be a number, then check the end.
    fn scan_number(&mut self) -> bool {
        let bytes = self.input.as_bytes();
        let accept = |pos: &mut usize, set: &str| -> bool {
            if *pos < bytes.len() && set.as_bytes().contains(&bytes[*pos]) {
                *pos += 1;
                true
            } else {
                false
            }
        };
        let mut pos = self.pos;
        accept(&mut pos, "+-");
        let mut digits = "0123456789_";
        if accept(&mut pos, "0") {
            if accept(&mut pos, "xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if accept(&mut pos, "oO") {
                digits = "01234567_";
            } else if accept(&mut pos, "bB") {
                digits = "01_";
            }
        }
        while accept(&mut pos, digits) {}
        if accept(&mut pos, ".") {
            while accept(&mut pos, digits) {}
        }
        if digits.len() == 11 && accept(&mut pos, "eE") {
            accept(&mut pos, "+-");
            while accept(&mut pos, "0123456789_") {}
        }
        if digits.len() == 23 && accept(&mut pos, "pP") {
            accept(&mut pos, "+-");
            while accept(&mut pos, "0123456789_") {}
        }
        accept(&mut pos, "i");
        self.pos = pos;
        match self.rest().chars().next() {
            Some(c) if is_alphanumeric(c) => {
                self.pos += c.len_utf8();
                false
            }
            _ => true,
        }
    }
}

/// The value of a number constant as Go's parse.newNumber computes it.
fn parse_number(text: &str) -> Number {
    let invalid = |message: String| Number {
        text: text.to_owned(),
        int: None,
        float: None,
        invalid: Some(message),
    };
    let illegal = || invalid(format!("illegal number syntax: {text:?}"));
    if text.ends_with('i') {
        return invalid(format!("complex number {text} is not supported by imgs"));
    }
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let clean = unsigned.replace('_', "").to_ascii_lowercase();
    let spelled_float =
        !clean.starts_with("0x") && clean.contains(['.', 'e']) || clean.contains('p');
    let float = if let Some(hex) = clean.strip_prefix("0x").filter(|_| spelled_float) {
        hex_float(hex)
    } else if spelled_float {
        clean.parse::<f64>().ok().filter(|f| f.is_finite())
    } else {
        None
    };
    let radix =
        |digits: &str, radix: u32| Some(u64::from_str_radix(digits, radix).map_err(|e| *e.kind()));
    let unsigned_int = if spelled_float {
        None
    } else if let Some(hex) = clean.strip_prefix("0x") {
        radix(hex, 16)
    } else if let Some(oct) = clean.strip_prefix("0o") {
        radix(oct, 8)
    } else if let Some(bin) = clean.strip_prefix("0b") {
        radix(bin, 2)
    } else if clean.len() > 1 && clean.starts_with('0') {
        // A leading 0 means octal, as in Go.
        radix(&clean[1..], 8)
    } else {
        radix(&clean, 10)
    };
    match (unsigned_int, float) {
        (Some(Ok(v)), _) => {
            let int = if negative {
                0i64.checked_sub_unsigned(v)
            } else {
                i64::try_from(v).ok()
            };
            let float = if negative { -(v as f64) } else { v as f64 };
            Number {
                text: text.to_owned(),
                int,
                float: Some(float),
                invalid: None,
            }
        }
        (Some(Err(std::num::IntErrorKind::PosOverflow)), _) => {
            invalid(format!("integer overflow: {text:?}"))
        }
        (Some(Err(_)), _) | (None, None) => illegal(),
        (None, Some(magnitude)) => {
            let float = if negative { -magnitude } else { magnitude };
            let int = (float.fract() == 0.0 && float.abs() < 9.2e18).then_some(float as i64);
            Number {
                text: text.to_owned(),
                int,
                float: Some(float),
                invalid: None,
            }
        }
    }
}

/// A hexadecimal float body after `0x`: hex digits with an optional point, then a required `p` exponent.
fn hex_float(body: &str) -> Option<f64> {
    let (mantissa, exponent) = body.split_once('p')?;
    let exponent: i32 = exponent.parse().ok()?;
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in whole.chars() {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in fraction.chars() {
        value += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(value * 2f64.powi(exponent)).filter(|f| f.is_finite())
}

/// Decode the body of a Go quoted literal (`strconv.Unquote` without the quotes); `None` when invalid.
fn unquote(body: &str, quote: char) -> Option<String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == quote {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = match chars.next()? {
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\u{b}',
            '\\' => '\\',
            c @ ('"' | '\'') if c == quote => c,
            'x' => {
                let value = hex_digits(&mut chars, 2)?;
                push_byte(&mut out, value as u8)?;
                continue;
            }
            'u' => char::from_u32(hex_digits(&mut chars, 4)?)?,
            'U' => char::from_u32(hex_digits(&mut chars, 8)?)?,
            d @ '0'..='7' => {
                let rest = [chars.next()?, chars.next()?];
                let mut value = d.to_digit(8)?;
                for r in rest {
                    value = value * 8 + r.to_digit(8)?;
                }
                if value > 255 {
                    return None;
                }
                push_byte(&mut out, value as u8)?;
                continue;
            }
            _ => return None,
        };
        out.push(escaped);
    }
    Some(out)
}

fn hex_digits(chars: &mut std::str::Chars<'_>, n: usize) -> Option<u32> {
    let mut value = 0u32;
    for _ in 0..n {
        value = value * 16 + chars.next()?.to_digit(16)?;
    }
    Some(value)
}

/// `\xHH` and octal escapes denote bytes; only ASCII bytes keep the result valid UTF-8, which Rust strings need.
fn push_byte(out: &mut String, byte: u8) -> Option<()> {
    if byte.is_ascii() {
        out.push(byte as char);
        Some(())
    } else {
        None
    }
}
