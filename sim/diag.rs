//! Errors that point at the mistake in a user's file: file name, line, column and the
//! offending text, rendered by miette like a compiler error.

use miette::{Diagnostic, NamedSource, SourceSpan};
use std::ops::Range;

/// An error located in a text file the user wrote (accelerator TOML, model TOML, CSV...).
///
/// Displayed as `file:line:column: message`, or `file: message` when there is no position.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{}", self.display())]
pub struct FileError {
    /// The file (path or preset name).
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// What is wrong and what was expected, naming the field.
    pub message: String,
    #[source_code]
    src: NamedSource<String>,
    #[label("here")]
    span: Option<SourceSpan>,
}

impl FileError {
    /// An error at a byte range of `text` (the whole file's contents).
    pub fn at(file: &str, text: &str, span: Option<Range<usize>>, message: impl Into<String>) -> Self {
        let (line, column) = match &span {
            Some(r) => line_col(text, r.start),
            None => (0, 0),
        };
        Self {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
            src: NamedSource::new(file, text.to_string()),
            span: span.map(|r| SourceSpan::from(r.start..r.end.max(r.start))),
        }
    }

    /// An error about a file as a whole (no position).
    pub fn whole(file: &str, message: impl Into<String>) -> Self {
        Self::at(file, "", None, message)
    }

    fn display(&self) -> String {
        if self.line == 0 {
            format!("{}: {}", self.file, self.message)
        } else {
            format!("{}:{}:{}: {}", self.file, self.line, self.column, self.message)
        }
    }

    /// Converts a TOML parse or type error, keeping its position.
    pub fn from_toml(file: &str, text: &str, e: &toml::de::Error) -> Self {
        Self::at(file, text, e.span(), e.message().trim().to_string())
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|p| offset - p).unwrap_or(offset + 1);
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let t = "a = 1\nbits = 5\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 13), (2, 8));
        let e = FileError::at("x.toml", t, Some(13..14), "bad");
        assert_eq!(e.to_string(), "x.toml:2:8: bad");
        assert_eq!(FileError::whole("x.toml", "bad").to_string(), "x.toml: bad");
    }
}
