//! Turning byte offsets in a template into located diagnostics.

use std::path::Path;

use imgs_diagnostic::{Diagnostic, LineIndex, Location};

use crate::json::{Node, Value};

/// One text and the file it came from, with its line index built once for all diagnostics.
pub(crate) struct Source<'a> {
    path: &'a Path,
    text: &'a str,
    lines: LineIndex,
}

impl<'a> Source<'a> {
    pub(crate) fn new(path: &'a Path, text: &'a str) -> Self {
        Self {
            path,
            text,
            lines: LineIndex::new(text),
        }
    }

    pub(crate) fn location(&self, offset: usize) -> Location {
        let (line, column) = self.lines.line_col(self.text, offset);
        Location::at_line_col(self.path, line, column)
    }

    /// An error located at `offset` and blaming `key`.
    pub(crate) fn error(
        &self,
        message: impl Into<String>,
        offset: usize,
        key: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::error(message)
            .at(self.location(offset))
            .key(key)
    }

    pub(crate) fn warning(
        &self,
        message: impl Into<String>,
        offset: usize,
        key: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::warning(message)
            .at(self.location(offset))
            .key(key)
    }
}

impl Source<'_> {
    /// The text under `span` (empty if the span does not fall on character boundaries).
    pub(crate) fn text(&self, span: imgs_diagnostic::Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or("")
    }
}

/// Byte offset in the template of byte `at` of a string value, when the JSON string has no escapes
/// (then source and value bytes line up); otherwise the start of the value.
pub(crate) fn string_offset(written: &str, node: &Node, at: Option<usize>) -> usize {
    let Some(offset) = at else {
        return node.span.start;
    };
    match &node.value {
        Value::String(s) if written.len() == s.len() + 2 && offset <= s.len() => {
            node.span.start + 1 + offset
        }
        _ => node.span.start,
    }
}
