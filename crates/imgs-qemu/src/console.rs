//! The guest's serial console, captured to a file: its last lines go into errors, because they are
//! where a guest that never came up says why.

use std::path::Path;

/// The last `lines` lines of the console log, without colour codes and carriage returns.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = without_ansi_escapes(&String::from_utf8_lossy(&text));
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `text` without CSI sequences (`ESC [ parameters final-byte`), which garble an error message.
pub fn without_ansi_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameter and intermediate bytes, up to and including the final byte (@ to ~).
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_and_carriage_returns_go() {
        let line =
            "[\u{1b}[0;32m  OK  \u{1b}[0m] Mounted \u{1b}[0;1;39mdev-mqueue.mount\u{1b}[0m.\r\n";
        assert_eq!(
            without_ansi_escapes(line),
            "[  OK  ] Mounted dev-mqueue.mount.\n"
        );
    }

    #[test]
    fn tail_keeps_the_last_non_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("console.log");
        std::fs::write(&log, "one\ntwo\n\r\nthree\n").unwrap();
        assert_eq!(tail(&log, 2), "two\nthree");
        assert_eq!(tail(&dir.path().join("missing"), 2), "");
    }
}
