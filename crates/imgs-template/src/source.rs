//! Turning byte offsets in a template into located diagnostics.

use std::path::Path;

use imgs_diagnostic::{Diagnostic, LineIndex, Location};

use crate::json::{Node, Value};
use crate::model::{FileSegment, Template};

/// The segment holding byte `offset`: the last one starting at or before it.
pub(crate) fn segment_of(segments: &[FileSegment], offset: usize) -> Option<&FileSegment> {
    let after = segments.partition_point(|s| s.start <= offset);
    after.checked_sub(1).map(|i| &segments[i])
}

/// One text and the file it came from, with its line index built once for all diagnostics.
pub(crate) struct Source<'a> {
    path: &'a Path,
    text: &'a str,
    lines: LineIndex,
    /// The files `text` joins, for a configuration read from several (HCL2); empty for one file.
    segments: &'a [FileSegment],
}

impl<'a> Source<'a> {
    pub(crate) fn new(path: &'a Path, text: &'a str) -> Self {
        Self {
            path,
            text,
            lines: LineIndex::new(text),
            segments: &[],
        }
    }

    /// The template's text, located in the file each part of it came from.
    pub(crate) fn of(t: &'a Template) -> Self {
        Self {
            segments: &t.segments,
            ..Self::new(&t.path, &t.text)
        }
    }

    pub(crate) fn location(&self, offset: usize) -> Location {
        let (line, column) = self.lines.line_col(self.text, offset);
        match segment_of(self.segments, offset) {
            Some(segment) => {
                let (first_line, _) = self.lines.line_col(self.text, segment.start);
                Location::at_line_col(&segment.path, line - first_line + 1, column)
            }
            None => Location::at_line_col(self.path, line, column),
        }
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
