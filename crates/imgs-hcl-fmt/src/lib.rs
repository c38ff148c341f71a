//! Canonical HCL2 formatting, as `packer fmt` of Packer 1.6.6 writes it.
//!
//! Packer formats with HCL's `hclwrite.Format`, which only changes the spaces between tokens:
//! it splits the file into lines of tokens, indents each line by its bracket depth (two spaces a
//! level), puts one space or none between tokens by their kinds, and aligns the `=` of
//! consecutive attribute lines and the trailing comments of consecutive lines. Newlines, comments,
//! string and heredoc contents are never changed. This crate does the same over its own lexer:
//! hcl-edit's parser gives a syntax tree whose spaces and comments are decor strings, not the
//! token stream this formatting is defined on, and hcl-rs (whose parser is hcl-edit's) formats by
//! its own rules (`hcl::format`), not hclwrite's. Like Packer, a file that does not parse is not
//! formatted: hcl-edit decides that, and the lexer adds what HCL's scanner refuses and hcl-edit
//! accepts (see `lex::Problem`).

mod lex;

use lex::{Kind, Token};
use unicode_segmentation::UnicodeSegmentation as _;

/// Why a file was not formatted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    pub message: String,
    /// 1-based line and column of the problem, where known.
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for FormatError {}

/// The canonical form of an HCL2 file (`*.pkr.hcl`, `*.pkrvars.hcl`); an error when it does not
/// parse.
pub fn format(source: &str) -> Result<String, FormatError> {
    let lex::Lexed {
        mut tokens,
        trailing_spaces,
        problem,
    } = lex::lex(source);
    if let Err(e) =
        without_lone_crs_in_comments(source, &tokens).parse::<hcl_edit::structure::Body>()
    {
        let (line, column) = (e.location().line(), e.location().column());
        return Err(FormatError {
            message: e.message().to_string(),
            line,
            column,
        });
    }
    if let Some((offset, message)) = problem {
        let (line, column) = line_column(source, offset);
        return Err(FormatError {
            message: message.to_string(),
            line,
            column,
        });
    }
    format_tokens(&mut tokens);
    let mut out = String::with_capacity(source.len());
    for token in &tokens {
        for _ in 0..token.spaces_before {
            out.push(' ');
        }
        out.push_str(&token.text);
    }
    // Tabs there come out as spaces, as hclwrite writes every token's spaces.
    out.extend(std::iter::repeat_n(' ', trailing_spaces));
    Ok(out)
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = source.get(..offset).unwrap_or(source);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// The source as hcl-edit is to check it: a CR not before a LF inside a line comment is part of the
/// comment for HCL's scanner, and an error for hcl-edit, so it becomes a space (same length: the
/// error locations stay).
fn without_lone_crs_in_comments<'a>(
    source: &'a str,
    tokens: &[Token],
) -> std::borrow::Cow<'a, str> {
    let lone_cr = |text: &str| text.replace("\r\n", "").contains('\r');
    let line_comment = |t: &Token| t.kind == Kind::Comment && !t.text.starts_with("/*");
    if !tokens.iter().any(|t| line_comment(t) && lone_cr(&t.text)) {
        return source.into();
    }
    let mut out = String::with_capacity(source.len());
    for token in tokens {
        out.extend(std::iter::repeat_n(' ', token.spaces_before));
        if line_comment(token) {
            let body = token
                .text
                .strip_suffix("\r\n")
                .or(token.text.strip_suffix('\n'));
            let ending = &token.text[body.map_or(token.text.len(), str::len)..];
            out.push_str(&body.unwrap_or(&token.text).replace('\r', " "));
            out.push_str(ending);
        } else {
            out.push_str(&token.text);
        }
    }
    out.into()
}

/// One line's tokens in up to three cells: everything before an attribute's `=`, the `=` and
/// its value, and a trailing comment; each cell is a range of token indexes.
struct Line {
    lead: std::ops::Range<usize>,
    assign: Option<std::ops::Range<usize>>,
    comment: Option<std::ops::Range<usize>>,
}

fn format_tokens(tokens: &mut [Token]) {
    let lines = lines(tokens);
    indent(tokens, &lines);
    space(tokens, &lines);
    align(tokens, &lines);
}

fn ends_line(token: &Token) -> bool {
    token.kind == Kind::Newline || (token.kind == Kind::Comment && token.text.ends_with('\n'))
}

fn lines(tokens: &[Token]) -> Vec<Line> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, token) in tokens.iter().enumerate() {
        if ends_line(token) {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < tokens.len() {
        out.push(start..tokens.len());
    }
    out.into_iter()
        .map(|range| {
            let mut lead = range.clone();
            let mut comment = None;
            // A comment ending the line (after something else) is its own cell.
            if lead.len() > 1 && tokens[lead.end - 1].kind == Kind::Comment {
                comment = Some(lead.end - 1..lead.end);
                lead.end -= 1;
            }
            let mut assign = None;
            for i in lead.clone() {
                if i > lead.start && tokens[i].kind == Kind::Equal {
                    // An assignment cell only when the value is whole on this line.
                    let net: i32 = (i..lead.end).map(|j| bracket_change(&tokens[j])).sum();
                    if net == 0 {
                        assign = Some(i..lead.end);
                        lead.end = i;
                    }
                    break;
                }
            }
            Line {
                lead,
                assign,
                comment,
            }
        })
        .collect()
}

fn bracket_change(token: &Token) -> i32 {
    match token.kind {
        Kind::OBrace
        | Kind::OBrack
        | Kind::OParen
        | Kind::TemplateControl
        | Kind::TemplateInterp => 1,
        Kind::CBrace | Kind::CBrack | Kind::CParen | Kind::TemplateSeqEnd => -1,
        _ => 0,
    }
}

/// Two spaces per open bracket level; a line that closes more than it opens is dedented first.
fn indent(tokens: &mut [Token], lines: &[Line]) {
    let mut levels: Vec<i32> = Vec::new();
    for line in lines {
        if line.lead.is_empty() {
            continue;
        }
        let first = line.lead.start;
        if tokens[first].kind == Kind::Newline {
            tokens[first].spaces_before = 0;
            continue;
        }
        let mut net = 0;
        for i in line.lead.clone() {
            net += bracket_change(&tokens[i]);
            if tokens[i].kind == Kind::OHeredoc {
                break;
            }
        }
        if let Some(assign) = &line.assign {
            for i in assign.clone() {
                net += bracket_change(&tokens[i]);
            }
        }
        if net > 0 {
            tokens[first].spaces_before = 2 * levels.len();
            levels.push(net);
        } else {
            let mut closed = -net;
            while closed > 0 {
                let Some(last) = levels.last_mut() else { break };
                if closed >= *last {
                    closed -= *last;
                    levels.pop();
                } else {
                    *last -= closed;
                    closed = 0;
                }
            }
            tokens[first].spaces_before = 2 * levels.len();
        }
    }
}

fn space(tokens: &mut [Token], lines: &[Line]) {
    for line in lines {
        space_cell(tokens, line.lead.clone(), false);
        if let Some(assign) = &line.assign {
            space_cell(tokens, assign.clone(), true);
        }
    }
}

fn space_cell(tokens: &mut [Token], cell: std::ops::Range<usize>, is_assign: bool) {
    if is_assign && !cell.is_empty() {
        tokens[cell.start].spaces_before = 1;
    }
    for i in cell.clone() {
        let before = if i > cell.start {
            Some(tokens[i - 1].clone())
        } else {
            None
        };
        if i + 1 >= cell.end {
            continue;
        }
        let after = tokens[i + 1].clone();
        let spaced = space_after(&tokens[i], before.as_ref(), &after);
        tokens[i + 1].spaces_before = usize::from(spaced);
    }
}

/// Whether a space follows `subject` (between `before` and `after`), by `hclwrite`'s rules.
fn space_after(subject: &Token, before: Option<&Token>, after: &Token) -> bool {
    use Kind::*;
    let before_kind = before.map(|t| t.kind);
    match () {
        _ if matches!(after.kind, Newline) => false,
        _ if subject.kind == Ident && after.kind == OParen => false,
        _ if subject.kind == Dot || after.kind == Dot => false,
        _ if matches!(after.kind, Comma | Ellipsis) => false,
        _ if subject.kind == Comma => true,
        _ if matches!(subject.kind, QuotedLit | StringLit | OQuote | OHeredoc)
            || matches!(after.kind, QuotedLit | StringLit | CQuote | CHeredoc) =>
        {
            false
        }
        _ if subject.kind == Ident && subject.text == "in" && before_kind == Some(Ident) => true,
        _ if after.kind == OBrack
            && (matches!(subject.kind, Ident | Number) || bracket_change(subject) < 0) =>
        {
            false
        }
        _ if subject.kind == Minus => !matches!(
            before_kind,
            None | Some(
                OParen
                    | OBrace
                    | OBrack
                    | Equal
                    | Colon
                    | Comma
                    | Question
                    | Plus
                    | Star
                    | Slash
                    | Percent
                    | Minus
                    | EqualOp
                    | NotEqual
                    | Gt
                    | Ge
                    | Lt
                    | Le
                    | And
                    | Or
                    | Bang
            )
        ),
        _ if subject.kind == OBrace || after.kind == CBrace => {
            !(subject.kind == OBrace && after.kind == CBrace)
        }
        _ if matches!(subject.kind, TemplateInterp | TemplateControl) && after.kind == OBrace => {
            true
        }
        _ if subject.kind == CBrace && after.kind == TemplateSeqEnd => true,
        _ if subject.kind == TemplateSeqEnd
            && matches!(after.kind, TemplateInterp | TemplateControl) =>
        {
            false
        }
        _ if bracket_change(subject) > 0 => false,
        _ if bracket_change(after) < 0 => false,
        _ => true,
    }
}

fn columns(tokens: &[Token], cell: &std::ops::Range<usize>) -> usize {
    cell.clone()
        // hclwrite counts a token's width in grapheme clusters (`"👋🏽"` is 3 columns, not 4).
        .map(|i| tokens[i].spaces_before + tokens[i].text.graphemes(true).count())
        .sum()
}

/// `=` of consecutive attribute lines in one column, then trailing comments of consecutive
/// lines in one column.
fn align(tokens: &mut [Token], lines: &[Line]) {
    let mut chain: Vec<&Line> = Vec::new();
    let flush_assign = |tokens: &mut [Token], chain: &mut Vec<&Line>| {
        let widest = chain
            .iter()
            .map(|l| columns(tokens, &l.lead))
            .max()
            .unwrap_or(0);
        for line in chain.drain(..) {
            let width = columns(tokens, &line.lead);
            if let Some(assign) = &line.assign {
                tokens[assign.start].spaces_before = widest - width + 1;
            }
        }
    };
    for line in lines {
        if line.assign.is_some() {
            chain.push(line);
        } else if !chain.is_empty() {
            flush_assign(tokens, &mut chain);
        }
    }
    flush_assign(tokens, &mut chain);

    let width_before_comment = |tokens: &[Token], line: &Line| {
        columns(tokens, &line.lead) + line.assign.as_ref().map_or(0, |a| columns(tokens, a))
    };
    let flush_comments = |tokens: &mut [Token], chain: &mut Vec<&Line>| {
        let widest = chain
            .iter()
            .map(|l| width_before_comment(tokens, l))
            .max()
            .unwrap_or(0);
        for line in chain.drain(..) {
            let width = width_before_comment(tokens, line);
            if let Some(comment) = &line.comment {
                tokens[comment.start].spaces_before = widest - width + 1;
            }
        }
    };
    for line in lines {
        if line.comment.is_some() {
            chain.push(line);
        } else if !chain.is_empty() {
            flush_comments(tokens, &mut chain);
        }
    }
    flush_comments(tokens, &mut chain);
}

#[cfg(test)]
mod tests;
