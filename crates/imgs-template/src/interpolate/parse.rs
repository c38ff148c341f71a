//! Parser: tokens to a tree of text, actions and (for `if`/`with`) branches, with Go's parse-time
//! checks — unknown functions and undefined variables are errors even in branches that never run.

use super::lex::{Keyword, Number, Tok, Token};
use super::{ErrorKind, InterpolateError};

#[derive(Clone, Debug)]
pub(super) enum Node {
    Text(String),
    Action(Pipeline),
    /// `{{if}}`/`{{with}}`: `with` also rebinds `.` to the pipeline's value inside `then`.
    Branch {
        kind: BranchKind,
        pipeline: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BranchKind {
    If,
    With,
}

#[derive(Clone, Debug)]
pub(super) struct Pipeline {
    pub offset: usize,
    /// `$name :=` or `$name =` in front of the commands.
    pub declare: Option<Declaration>,
    pub commands: Vec<Command>,
}

#[derive(Clone, Debug)]
pub(super) struct Declaration {
    pub name: String,
    pub is_assignment: bool,
}

#[derive(Clone, Debug)]
pub(super) struct Command {
    pub offset: usize,
    /// The command's source text, trimmed (`isotime "2006"`); stands in for run-dependent values.
    pub source: String,
    pub args: Vec<Operand>,
}

#[derive(Clone, Debug)]
pub(super) struct Operand {
    pub offset: usize,
    /// The operand as written, for messages.
    pub source: String,
    pub kind: OperandKind,
}

#[derive(Clone, Debug)]
pub(super) enum OperandKind {
    Function(String),
    Dot,
    /// `.A.B`: fields of `.`.
    Field(Vec<String>),
    /// `$` or `$name`, optionally followed by fields.
    Variable(String, Vec<String>),
    /// `(pipeline)` optionally followed by fields.
    Pipeline(Box<Pipeline>, Vec<String>),
    Str(String),
    Number(Number),
    Bool(bool),
    Nil,
}

impl OperandKind {
    /// A constant as opposed to a computed value (Go checks their types differently).
    pub(super) fn is_literal(&self) -> bool {
        matches!(
            self,
            OperandKind::Str(_) | OperandKind::Number(_) | OperandKind::Bool(_) | OperandKind::Nil
        )
    }
}

pub(super) fn parse(
    input: &str,
    tokens: Vec<Token>,
    is_function: &dyn Fn(&str) -> bool,
) -> Result<Vec<Node>, InterpolateError> {
    let mut parser = Parser {
        input,
        tokens,
        pos: 0,
        is_function,
        variables: vec!["$".to_owned()],
    };
    let (nodes, end) = parser.list()?;
    match end {
        ListEnd::Eof => Ok(nodes),
        ListEnd::Else(offset) => Err(InterpolateError::new("unexpected {{else}}", offset)),
        ListEnd::End(offset) => Err(InterpolateError::new("unexpected {{end}}", offset)),
        ListEnd::ElseIf(offset, _) => Err(InterpolateError::new("unexpected {{else}}", offset)),
    }
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    is_function: &'a dyn Fn(&str) -> bool,
    /// Declared variables in scope, innermost last (Go scopes them to the enclosing control block).
    variables: Vec<String>,
}

enum ListEnd {
    Eof,
    End(usize),
    Else(usize),
    /// `{{else if pipeline}}` / `{{else with pipeline}}`: a nested branch.
    ElseIf(usize, Box<(BranchKind, Pipeline)>),
}

fn error(message: impl Into<String>, offset: usize) -> InterpolateError {
    InterpolateError::new(message, offset)
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Text(_) => "text".into(),
        Tok::LeftDelim => "\"{{\"".into(),
        Tok::RightDelim => "\"}}\"".into(),
        Tok::Space => "space".into(),
        Tok::Ident(name) => format!("{name:?}"),
        Tok::Keyword(k) => format!("<{}>", k.as_str()),
        Tok::Field(name) => format!("\".{name}\""),
        Tok::Dot => "\".\"".into(),
        Tok::Variable(name) => format!("{name:?}"),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Number(n) => format!("{:?}", n.text),
        Tok::Bool(b) => format!("\"{b}\""),
        Tok::Nil => "<nil>".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::LeftParen => "\"(\"".into(),
        Tok::RightParen => "\")\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Char(c) => format!("{:?}", c.to_string()),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn offset(&self) -> usize {
        self.peek().map_or(self.input.len(), |t| t.offset)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn skip_space(&mut self) {
        while matches!(
            self.peek(),
            Some(Token {
                tok: Tok::Space,
                ..
            })
        ) {
            self.pos += 1;
        }
    }

    fn peek_non_space(&mut self) -> Option<&Token> {
        self.skip_space();
        self.peek()
    }

    fn expect_right_delim(&mut self, context: &str) -> Result<(), InterpolateError> {
        self.skip_space();
        match self.next() {
            Some(Token {
                tok: Tok::RightDelim,
                ..
            }) => Ok(()),
            Some(t) => Err(error(
                format!("unexpected {} in {context}", describe(&t.tok)),
                t.offset,
            )),
            None => Err(error(
                format!("unexpected EOF in {context}"),
                self.input.len(),
            )),
        }
    }

    fn list(&mut self) -> Result<(Vec<Node>, ListEnd), InterpolateError> {
        let mut nodes = Vec::new();
        while let Some(token) = self.next() {
            match token.tok {
                Tok::Text(text) => nodes.push(Node::Text(text)),
                Tok::LeftDelim => {
                    let start = token.offset;
                    match self.peek_non_space().map(|t| t.tok.clone()) {
                        Some(Tok::Keyword(keyword)) => {
                            self.pos += 1;
                            match keyword {
                                Keyword::End => {
                                    self.expect_right_delim("end")?;
                                    return Ok((nodes, ListEnd::End(start)));
                                }
                                Keyword::Else => {
                                    return self.else_clause(start).map(|end| (nodes, end));
                                }
                                Keyword::If => nodes.push(self.branch(BranchKind::If)?),
                                Keyword::With => nodes.push(self.branch(BranchKind::With)?),
                                Keyword::Break | Keyword::Continue => {
                                    let message = format!(
                                        "{{{{{}}}}} outside {{{{range}}}}",
                                        keyword.as_str()
                                    );
                                    return Err(error(message, start));
                                }
                                other => return Err(unsupported_keyword(other, start)),
                            }
                        }
                        _ => {
                            let pipeline = self.pipeline("command", Tok::RightDelim)?;
                            nodes.push(Node::Action(pipeline));
                        }
                    }
                }
                other => {
                    return Err(error(
                        format!("unexpected {}", describe(&other)),
                        token.offset,
                    ));
                }
            }
        }
        Ok((nodes, ListEnd::Eof))
    }

    fn else_clause(&mut self, start: usize) -> Result<ListEnd, InterpolateError> {
        let kind = match self.peek_non_space().map(|t| &t.tok) {
            Some(Tok::Keyword(Keyword::If)) => Some(BranchKind::If),
            Some(Tok::Keyword(Keyword::With)) => Some(BranchKind::With),
            _ => None,
        };
        match kind {
            Some(kind) => {
                self.pos += 1;
                let pipeline = self.pipeline(kind_name(kind), Tok::RightDelim)?;
                Ok(ListEnd::ElseIf(start, Box::new((kind, pipeline))))
            }
            None => {
                self.expect_right_delim("else")?;
                Ok(ListEnd::Else(start))
            }
        }
    }

    /// After `{{if` / `{{with`: the pipeline, the branches, up to the matching `{{end}}`.
    fn branch(&mut self, kind: BranchKind) -> Result<Node, InterpolateError> {
        let scope = self.variables.len();
        let pipeline = self.pipeline(kind_name(kind), Tok::RightDelim)?;
        let result = self.branch_body(kind, pipeline);
        self.variables.truncate(scope);
        result
    }

    fn branch_body(
        &mut self,
        kind: BranchKind,
        pipeline: Pipeline,
    ) -> Result<Node, InterpolateError> {
        let offset = pipeline.offset;
        let (then, end) = self.list()?;
        let otherwise = match end {
            ListEnd::End(_) => Vec::new(),
            ListEnd::Else(_) => match self.list()? {
                (nodes, ListEnd::End(_)) => nodes,
                (_, ListEnd::Eof) => {
                    return Err(error(
                        format!("unexpected EOF in {}", kind_name(kind)),
                        offset,
                    ));
                }
                (_, ListEnd::Else(at) | ListEnd::ElseIf(at, _)) => {
                    return Err(error(
                        format!("expected end; found {{{{else}}}} in {}", kind_name(kind)),
                        at,
                    ));
                }
            },
            // `{{else if x}}…{{end}}` is `{{else}}{{if x}}…{{end}}{{end}}` sharing one `{{end}}`.
            ListEnd::ElseIf(_, nested) => {
                let (nested_kind, nested_pipeline) = *nested;
                vec![self.branch_body(nested_kind, nested_pipeline)?]
            }
            ListEnd::Eof => {
                return Err(error(
                    format!("unexpected EOF in {}", kind_name(kind)),
                    offset,
                ));
            }
        };
        Ok(Node::Branch {
            kind,
            pipeline,
            then,
            otherwise,
        })
    }

    /// Commands separated by `|`, up to `end` (`}}` or `)`), which is consumed.
    fn pipeline(&mut self, context: &str, end: Tok) -> Result<Pipeline, InterpolateError> {
        self.skip_space();
        let offset = self.offset();
        let declare = self.declaration()?;
        let mut commands = Vec::new();
        loop {
            let Some(token) = self.peek_non_space().cloned() else {
                return Err(error(
                    format!("unexpected EOF in {context}"),
                    self.input.len(),
                ));
            };
            if token.tok == end {
                self.pos += 1;
                break;
            }
            match token.tok {
                Tok::Bool(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LeftParen => commands.push(self.command()?),
                other => {
                    return Err(error(
                        format!("unexpected {} in {context}", describe(&other)),
                        token.offset,
                    ));
                }
            }
        }
        if commands.is_empty() {
            return Err(error(format!("missing value for {context}"), offset));
        }
        for (stage, command) in commands.iter().enumerate().skip(1) {
            if command.args[0].kind.is_literal() || matches!(command.args[0].kind, OperandKind::Dot)
            {
                return Err(error(
                    format!("non executable command in pipeline stage {}", stage + 1),
                    command.offset,
                ));
            }
        }
        if let Some(declaration) = declare.as_ref().filter(|d| !d.is_assignment) {
            self.variables.push(declaration.name.clone());
        }
        Ok(Pipeline {
            offset,
            declare,
            commands,
        })
    }

    fn declaration(&mut self) -> Result<Option<Declaration>, InterpolateError> {
        let Some(Token {
            tok: Tok::Variable(name),
            offset,
        }) = self.peek().cloned()
        else {
            return Ok(None);
        };
        let save = self.pos;
        self.pos += 1;
        let is_assignment = match self.peek_non_space().map(|t| &t.tok) {
            Some(Tok::Declare) => false,
            Some(Tok::Assign) => true,
            _ => {
                self.pos = save;
                return Ok(None);
            }
        };
        self.pos += 1;
        if is_assignment && !self.variables.contains(&name) {
            return Err(error(format!("undefined variable {name:?}"), offset));
        }
        Ok(Some(Declaration {
            name,
            is_assignment,
        }))
    }

    fn command(&mut self) -> Result<Command, InterpolateError> {
        let offset = self.offset();
        let mut args = Vec::new();
        loop {
            self.skip_space();
            if let Some(operand) = self.operand()? {
                args.push(operand);
            }
            let token = self.peek().cloned();
            match token.as_ref().map(|t| &t.tok) {
                Some(Tok::Space) => continue,
                Some(Tok::RightDelim | Tok::RightParen) | None => break,
                Some(Tok::Pipe) => {
                    let end = self.offset();
                    self.pos += 1;
                    return self.finish_command(offset, end, args);
                }
                Some(other) => {
                    let at = token.as_ref().map_or(self.input.len(), |t| t.offset);
                    return Err(error(
                        format!("unexpected {} in operand", describe(other)),
                        at,
                    ));
                }
            }
        }
        let end = self.offset();
        self.finish_command(offset, end, args)
    }

    fn finish_command(
        &self,
        offset: usize,
        end: usize,
        args: Vec<Operand>,
    ) -> Result<Command, InterpolateError> {
        if args.is_empty() {
            return Err(error("empty command", offset));
        }
        let source = self
            .input
            .get(offset..end)
            .unwrap_or_default()
            .trim()
            .to_owned();
        Ok(Command {
            offset,
            source,
            args,
        })
    }

    fn fields(&mut self) -> Vec<String> {
        let mut fields = Vec::new();
        while let Some(Token {
            tok: Tok::Field(name),
            ..
        }) = self.peek()
        {
            fields.push(name.clone());
            self.pos += 1;
        }
        fields
    }

    fn operand(&mut self) -> Result<Option<Operand>, InterpolateError> {
        let Some(token) = self.peek().cloned() else {
            return Ok(None);
        };
        let offset = token.offset;
        let kind = match token.tok {
            Tok::Ident(name) => {
                if !(self.is_function)(&name) {
                    return Err(error(format!("function {name:?} not defined"), offset));
                }
                self.pos += 1;
                OperandKind::Function(name)
            }
            Tok::Dot => {
                self.pos += 1;
                OperandKind::Dot
            }
            Tok::Nil => {
                self.pos += 1;
                OperandKind::Nil
            }
            Tok::Variable(name) => {
                if !self.variables.contains(&name) {
                    return Err(error(format!("undefined variable {name:?}"), offset));
                }
                self.pos += 1;
                OperandKind::Variable(name, self.fields())
            }
            Tok::Field(_) => OperandKind::Field(self.fields()),
            Tok::Bool(b) => {
                self.pos += 1;
                OperandKind::Bool(b)
            }
            Tok::Number(n) => {
                if let Some(message) = n.invalid {
                    return Err(error(message, offset));
                }
                self.pos += 1;
                OperandKind::Number(n)
            }
            Tok::Str(s) => {
                self.pos += 1;
                OperandKind::Str(s)
            }
            Tok::LeftParen => {
                self.pos += 1;
                let pipeline = self.pipeline("parenthesized pipeline", Tok::RightParen)?;
                OperandKind::Pipeline(Box::new(pipeline), self.fields())
            }
            _ => return Ok(None),
        };
        if let Some(Token {
            tok: Tok::Field(_),
            offset: at,
        }) = self.peek()
        {
            // Only fields, variables and parenthesised pipelines have fields; Go rejects `"x".A`.
            let term = self.input.get(offset..*at).unwrap_or_default();
            return Err(error(format!("unexpected . after term {term:?}"), *at));
        }
        let source = self
            .input
            .get(offset..self.offset())
            .unwrap_or_default()
            .trim_end()
            .to_owned();
        Ok(Some(Operand {
            offset,
            source,
            kind,
        }))
    }
}

fn unsupported_keyword(keyword: Keyword, offset: usize) -> InterpolateError {
    InterpolateError {
        kind: ErrorKind::Unsupported,
        ..error(
            format!("`{{{{{}}}}}` is not supported by imgs", keyword.as_str()),
            offset,
        )
    }
    .with_hint("imgs supports Packer's functions, pipelines, variables, `if` and `with`")
}

fn kind_name(kind: BranchKind) -> &'static str {
    match kind {
        BranchKind::If => "if",
        BranchKind::With => "with",
    }
}
