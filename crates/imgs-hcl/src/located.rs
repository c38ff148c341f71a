//! Byte offsets of the joined configuration text turned into file:line:column.

use imgs_diagnostic::{Diagnostic, LineIndex, Location};
use imgs_template::FileSegment;

/// The joined text of a configuration and where each of its files starts.
#[derive(Clone, Debug)]
pub(crate) struct Located {
    pub text: String,
    pub segments: Vec<FileSegment>,
    lines: LineIndex,
}

impl Located {
    pub(crate) fn new(text: String, segments: Vec<FileSegment>) -> Self {
        let lines = LineIndex::new(&text);
        Located {
            text,
            segments,
            lines,
        }
    }

    pub(crate) fn location(&self, offset: usize) -> Location {
        let after = self.segments.partition_point(|s| s.start <= offset);
        let Some(segment) = after.checked_sub(1).map(|i| &self.segments[i]) else {
            return Location::file("");
        };
        let (line, column) = self.lines.line_col(&self.text, offset);
        let (first_line, _) = self.lines.line_col(&self.text, segment.start);
        Location::at_line_col(&segment.path, line - first_line + 1, column)
    }

    pub(crate) fn error(&self, message: impl Into<String>, offset: usize) -> Diagnostic {
        Diagnostic::error(message).at(self.location(offset))
    }
}
