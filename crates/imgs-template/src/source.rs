//! Turning byte offsets in a template into located diagnostics.

use std::path::Path;

use imgs_diagnostic::{Diagnostic, LineIndex, Location};

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
}

impl Source<'_> {
    /// The text under `span` (empty if the span does not fall on character boundaries).
    pub(crate) fn text(&self, span: imgs_diagnostic::Span) -> &str {
        self.text.get(span.start..span.end).unwrap_or("")
    }
}
