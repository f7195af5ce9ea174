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
        let message = e.message().trim();
        // A value of the wrong type is reported at the value ("invalid type: string
        // \"fast\", expected f64"): name the field it belongs to.
        let field = e.span().and_then(|s| field_at(text, s.start)).filter(|f| !message.contains(f.as_str()));
        match field {
            Some(f) => Self::at(file, text, e.span(), format!("{f}: {message}")),
            None => Self::at(file, text, e.span(), message.to_string()),
        }
    }
}

/// The dotted name (`table.key`) of the TOML field whose value starts at `offset`, when the
/// text before it on its line is `key =`.
fn field_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text.get(..offset)?.rfind('\n').map_or(0, |p| p + 1);
    let (key, rest) = text.get(start..offset)?.split_once('=')?;
    let key = key.trim();
    let bare = |k: &str| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if !bare(key) || !rest.trim().is_empty() {
        return None;
    }
    let table = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_start_matches('[').split(']').next().unwrap_or("").trim().to_string())
        .filter(|t| bare(t));
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
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
    fn toml_type_errors_name_their_field() {
        let t = "name = \"x\"\nclock_mhz = \"fast\"\n[mac]\nrows = 1.5\n";
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Mac {
            rows: u32,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Doc {
            name: String,
            clock_mhz: f64,
            mac: Mac,
        }
        let e = toml::from_str::<Doc>(t).unwrap_err();
        let f = FileError::from_toml("x.toml", t, &e);
        assert_eq!((f.line, f.message.split(':').next()), (2, Some("clock_mhz")), "{f}");
        let t = "name = \"x\"\nclock_mhz = 1.0\n[mac]\nrows = 1.5\n";
        let e = toml::from_str::<Doc>(t).unwrap_err();
        let f = FileError::from_toml("x.toml", t, &e);
        assert_eq!((f.line, f.message.split(':').next()), (4, Some("mac.rows")), "{f}");
        // Syntax errors are left as they are.
        assert_eq!(field_at("a b = 1", 6), None);
        assert_eq!(field_at("[[x]]\nk = ", 10), Some("x.k".to_string()));
    }

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
