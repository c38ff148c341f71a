//! HCL native syntax as the tokens `hclwrite` formats: every byte of the input belongs to one
//! token's text or to the spaces before a token, so writing the tokens back with their spaces
//! reproduces the input exactly. Only called on input that parses.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Newline,
    Comment,
    Ident,
    Number,
    OQuote,
    CQuote,
    QuotedLit,
    StringLit,
    OHeredoc,
    CHeredoc,
    TemplateInterp,
    TemplateControl,
    TemplateSeqEnd,
    OBrace,
    CBrace,
    OBrack,
    CBrack,
    OParen,
    CParen,
    Comma,
    Dot,
    Ellipsis,
    Equal,
    Colon,
    Question,
    Minus,
    Plus,
    Star,
    Slash,
    Percent,
    EqualOp,
    NotEqual,
    Gt,
    Ge,
    Lt,
    Le,
    And,
    Or,
    Bang,
    FatArrow,
    Other,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub kind: Kind,
    pub text: String,
    pub spaces_before: usize,
}

/// What a `}` closes.
enum Open {
    Brace,
    /// `${` or `%{` inside a quoted string or a heredoc.
    Interp(Template),
}

#[derive(Clone)]
enum Template {
    Quoted,
    /// The heredoc's closing marker.
    Heredoc(String),
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    tokens: Vec<Token>,
    spaces: usize,
    stack: Vec<Open>,
    problem: Option<Problem>,
}

/// What HCL's scanner refuses although hcl-edit's parser accepts it: the byte offset and the
/// message.
pub(crate) type Problem = (usize, &'static str);

pub(crate) struct Lexed {
    pub tokens: Vec<Token>,
    /// The spaces after the last token: `hclwrite` keeps them (they are the end-of-file token's,
    /// which no formatting rule touches).
    pub trailing_spaces: usize,
    pub problem: Option<Problem>,
}

pub(crate) fn lex(src: &str) -> Lexed {
    let mut lexer = Lexer {
        src,
        pos: 0,
        tokens: Vec::new(),
        spaces: 0,
        stack: Vec::new(),
        problem: None,
    };
    lexer.normal();
    if lexer.problem.is_none() {
        lexer.problem = for_without_in(&lexer.tokens);
    }
    Lexed {
        tokens: lexer.tokens,
        trailing_spaces: lexer.spaces,
        problem: lexer.problem,
    }
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn push(&mut self, kind: Kind, len: usize) {
        let text = self.src[self.pos..self.pos + len].to_string();
        self.tokens.push(Token {
            kind,
            text,
            spaces_before: std::mem::take(&mut self.spaces),
        });
        self.pos += len;
    }

    /// Expressions and structure, until the end, or until the `}` that ends an interpolation
    /// (then back to the template it is in).
    fn normal(&mut self) {
        while self.pos < self.src.len() {
            let rest = self.rest();
            let c = rest.chars().next().unwrap_or(' ');
            match c {
                ' ' | '\t' => {
                    // Spaces are re-made by the formatter; a tab counts as one.
                    self.spaces += 1;
                    self.pos += 1;
                }
                '\r' if rest.starts_with("\r\n") => self.push(Kind::Newline, 2),
                '\n' => self.push(Kind::Newline, 1),
                '#' => self.line_comment(),
                '/' if rest.starts_with("//") => self.line_comment(),
                '/' if rest.starts_with("/*") => {
                    let len = rest[2..].find("*/").map_or(rest.len(), |i| i + 4);
                    self.push(Kind::Comment, len);
                }
                '"' => {
                    self.push(Kind::OQuote, 1);
                    self.template(Template::Quoted);
                }
                '<' if rest.starts_with("<<") && heredoc_marker(rest).is_some() => {
                    let (len, marker) = heredoc_marker(rest).unwrap_or((2, String::new()));
                    self.push(Kind::OHeredoc, len);
                    self.template(Template::Heredoc(marker));
                }
                '{' => {
                    self.stack.push(Open::Brace);
                    self.push(Kind::OBrace, 1);
                }
                '~' if rest.starts_with("~}")
                    && matches!(self.stack.last(), Some(Open::Interp(_))) =>
                {
                    self.close_interp(2);
                }
                '}' => match self.stack.last() {
                    Some(Open::Interp(_)) => self.close_interp(1),
                    _ => {
                        self.stack.pop();
                        self.push(Kind::CBrace, 1);
                    }
                },
                '[' => self.push(Kind::OBrack, 1),
                ']' => self.push(Kind::CBrack, 1),
                '(' => self.push(Kind::OParen, 1),
                ')' => self.push(Kind::CParen, 1),
                ',' => self.push(Kind::Comma, 1),
                '.' if rest.starts_with("...") => self.push(Kind::Ellipsis, 3),
                '.' => self.push(Kind::Dot, 1),
                '=' if rest.starts_with("==") => self.push(Kind::EqualOp, 2),
                '=' if rest.starts_with("=>") => self.push(Kind::FatArrow, 2),
                '=' => self.push(Kind::Equal, 1),
                '!' if rest.starts_with("!=") => self.push(Kind::NotEqual, 2),
                '!' => self.push(Kind::Bang, 1),
                '>' if rest.starts_with(">=") => self.push(Kind::Ge, 2),
                '>' => self.push(Kind::Gt, 1),
                '<' if rest.starts_with("<=") => self.push(Kind::Le, 2),
                '<' => self.push(Kind::Lt, 1),
                '&' if rest.starts_with("&&") => self.push(Kind::And, 2),
                '|' if rest.starts_with("||") => self.push(Kind::Or, 2),
                ':' => self.push(Kind::Colon, 1),
                '?' => self.push(Kind::Question, 1),
                '-' => self.push(Kind::Minus, 1),
                '+' => self.push(Kind::Plus, 1),
                '*' => self.push(Kind::Star, 1),
                '/' => self.push(Kind::Slash, 1),
                '%' => self.push(Kind::Percent, 1),
                c if c.is_ascii_digit() => {
                    let len = number_len(rest);
                    self.push(Kind::Number, len);
                }
                c if c.is_alphabetic() || c == '_' => {
                    let len = rest
                        .char_indices()
                        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '-'))
                        .map_or(rest.len(), |(i, _)| i);
                    self.push(Kind::Ident, len);
                }
                '\r' => {
                    // A CR not before a LF: hcl-edit takes it for a space, HCL's scanner refuses it.
                    self.problem.get_or_insert((self.pos, "Invalid character"));
                    self.push(Kind::Other, 1);
                }
                other => self.push(Kind::Other, other.len_utf8()),
            }
            if matches!(
                self.tokens.last().map(|t| t.kind),
                Some(Kind::TemplateSeqEnd)
            ) {
                return;
            }
        }
    }

    fn close_interp(&mut self, len: usize) {
        let Some(Open::Interp(template)) = self.stack.pop() else {
            return;
        };
        self.push(Kind::TemplateSeqEnd, len);
        // Back into the template: the caller's loop returns, and the template goes on.
        let _ = template;
    }

    fn line_comment(&mut self) {
        let rest = self.rest();
        let len = rest.find('\n').map_or(rest.len(), |i| i + 1);
        self.push(Kind::Comment, len);
    }

    /// A quoted string or a heredoc body, with its interpolations, through its end.
    fn template(&mut self, template: Template) {
        let literal = match template {
            Template::Quoted => Kind::QuotedLit,
            Template::Heredoc(_) => Kind::StringLit,
        };
        let opened = self.pos;
        let mut start = self.pos;
        loop {
            if self.pos >= self.src.len() {
                // A heredoc whose closing marker is not on a line of its own, newline included.
                self.problem
                    .get_or_insert((opened, "Unterminated template string"));
                self.flush_literal(start, literal);
                return;
            }
            let rest = &self.src[self.pos..];
            if let Template::Heredoc(marker) = &template
                && at_line_start(self.src, self.pos)
                && let Some(len) = closing_marker(rest, marker)
            {
                self.flush_literal(start, literal);
                self.push(Kind::CHeredoc, len);
                return;
            }
            if rest.starts_with("$${") || rest.starts_with("%%{") {
                self.pos += 3;
                continue;
            }
            if rest.starts_with("${") || rest.starts_with("%{") {
                self.flush_literal(start, literal);
                let kind = if rest.starts_with('$') {
                    Kind::TemplateInterp
                } else {
                    Kind::TemplateControl
                };
                let len = if rest[2..].starts_with('~') { 3 } else { 2 };
                if kind == Kind::TemplateControl && !control_keyword(&rest[len..]) {
                    self.problem
                        .get_or_insert((self.pos, "Invalid template control keyword"));
                }
                self.stack.push(Open::Interp(template.clone()));
                self.push(kind, len);
                self.normal();
                start = self.pos;
                continue;
            }
            match (&template, rest.chars().next()) {
                (Template::Quoted, Some('"')) => {
                    self.flush_literal(start, literal);
                    self.push(Kind::CQuote, 1);
                    return;
                }
                (Template::Quoted, Some('\n')) => {
                    // hcl-edit lets a quoted string span lines; HCL's scanner does not.
                    self.problem
                        .get_or_insert((self.pos, "Invalid multi-line string"));
                    self.pos += 1;
                }
                (Template::Quoted, Some('\\')) => {
                    self.pos += 1;
                    if let Some(c) = self.rest().chars().next() {
                        self.pos += c.len_utf8();
                    }
                }
                (Template::Heredoc(_), Some('\n')) => {
                    // A heredoc literal ends with its line, so a closing marker starts a token.
                    self.pos += 1;
                    self.flush_literal(start, literal);
                    start = self.pos;
                }
                (_, Some(c)) => self.pos += c.len_utf8(),
                (_, None) => {}
            }
        }
    }

    fn flush_literal(&mut self, start: usize, kind: Kind) {
        if self.pos > start {
            let end = self.pos;
            self.pos = start;
            self.push(kind, end - start);
        }
    }
}

/// A `for` expression or directive whose names are not followed by the keyword `in`, as in
/// `[for x invar.list : x]`: hcl-edit reads `invar` as `in var`, HCL's scanner as one name.
fn for_without_in(tokens: &[Token]) -> Option<Problem> {
    let mut offset = 0;
    for (i, token) in tokens.iter().enumerate() {
        offset += token.spaces_before;
        let opens_for = token.kind == Kind::Ident
            && token.text == "for"
            && i > 0
            && matches!(
                tokens[i - 1].kind,
                Kind::OBrack | Kind::OBrace | Kind::TemplateControl
            );
        // `{ for = 1 }` is an attribute named `for` in a one-line block.
        if opens_for && tokens.get(i + 1).is_some_and(|t| t.kind == Kind::Ident) {
            let names_end = if tokens.get(i + 2).is_some_and(|t| t.kind == Kind::Comma) {
                i + 4
            } else {
                i + 2
            };
            if tokens
                .get(names_end)
                .is_some_and(|t| !(t.kind == Kind::Ident && t.text == "in"))
            {
                return Some((offset, "Invalid 'for' expression"));
            }
        }
        offset += token.text.len();
    }
    None
}

/// Whether a template directive (after `%{` or `%{~`) starts with one of its keywords.
fn control_keyword(rest: &str) -> bool {
    let rest = rest.trim_start();
    let word = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .map_or(rest, |end| &rest[..end]);
    matches!(word, "if" | "else" | "endif" | "for" | "endfor")
}

fn number_len(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        let mut j = i + 1;
        if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
            j += 1;
        }
        if j < bytes.len() && bytes[j].is_ascii_digit() {
            i = j;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    i
}

/// `<<EOF\n` or `<<-EOF\n`: the opener's length (through its newline) and the marker.
fn heredoc_marker(rest: &str) -> Option<(usize, String)> {
    let after = rest.strip_prefix("<<")?;
    let (dash, after) = match after.strip_prefix('-') {
        Some(a) => (1, a),
        None => (0, after),
    };
    let len = after
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '-'))
        .map_or(after.len(), |(i, _)| i);
    if len == 0 {
        return None;
    }
    let marker = after[..len].to_string();
    let tail = &after[len..];
    let newline = if tail.starts_with("\r\n") {
        2
    } else if tail.starts_with('\n') {
        1
    } else {
        return None;
    };
    Some((2 + dash + len + newline, marker))
}

fn at_line_start(src: &str, pos: usize) -> bool {
    pos == 0 || src.as_bytes()[pos - 1] == b'\n'
}

/// A closing marker line: one whose text, without the spaces around it, is the marker, and that
/// ends with a newline (as HCL's scanner decides). Its length without the newline: the token
/// keeps the spaces on both sides, which is why `packer fmt` never re-indents it.
fn closing_marker(rest: &str, marker: &str) -> Option<usize> {
    let newline = rest.find('\n')?;
    let line = &rest[..newline];
    let line = line.strip_suffix('\r').unwrap_or(line);
    (line.trim() == marker).then_some(line.len())
}
