//! Telling a name (an accelerator preset, a built-in network) from a file path on the
//! command line, one rule for `--hw` and `--model`.
//!
//! An argument that looks like a path (it contains a path separator, or ends in one of
//! the file extensions the option reads) is a path and must exist: `--hw ./my/mac8.toml`
//! that is not there is an error, never silently the preset `mac8`. Any other argument is
//! a path if such a file exists, else a name.

use std::path::Path;

/// What a `--hw` or `--model` argument denotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source<'a> {
    /// An existing file.
    File(&'a Path),
    /// A preset or built-in name (the argument as given, without a `.toml` suffix).
    Name(&'a str),
    /// A path that does not exist (or is not a regular file).
    Missing(&'a Path),
}

/// Whether `spec` must be read as a path: it has a path separator, or ends in one of
/// `exts` (lower-case, without the dot).
pub fn looks_like_path(spec: &str, exts: &[&str]) -> bool {
    if spec.contains('/') || spec.contains(std::path::MAIN_SEPARATOR) {
        return true;
    }
    let ext = Path::new(spec).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    ext.is_some_and(|e| exts.contains(&e.as_str()))
}

/// Resolves `spec` by the rule in the module docs; `exts` are the extensions the option
/// reads as files.
pub fn resolve<'a>(spec: &'a str, exts: &[&str]) -> Source<'a> {
    let path = Path::new(spec);
    if path.is_file() {
        Source::File(path)
    } else if looks_like_path(spec, exts) {
        Source::Missing(path)
    } else {
        Source::Name(spec)
    }
}

/// The message for a path that does not exist: says so, and names the preset or built-in
/// the user may have meant (`names` are the known names).
pub fn missing_message(path: &Path, what: &str, names: &[&str]) -> String {
    let why = if path.exists() { "is not a regular file" } else { "no such file" };
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let hint = if names.contains(&stem) {
        format!("; for the {what} '{stem}', give its name without a folder or extension")
    } else {
        format!("; {what}s are: {}", names.join(", "))
    };
    format!("{why}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_looking_arguments_are_paths_and_others_names() {
        let exts = &["toml", "cfg"];
        assert!(looks_like_path("./x/dsp.toml", exts));
        assert!(looks_like_path("dsp.toml", exts));
        assert!(looks_like_path("DSP.CFG", exts));
        assert!(!looks_like_path("dsp", exts));
        assert!(!looks_like_path("mnv1.5", exts));
        assert_eq!(resolve("/nonexistent/dsp.toml", exts), Source::Missing(Path::new("/nonexistent/dsp.toml")));
        assert_eq!(resolve("dsp", exts), Source::Name("dsp"));
        let m = missing_message(Path::new("/nonexistent/dsp.toml"), "preset", &["dsp", "mac8"]);
        assert!(m.starts_with("no such file") && m.contains("'dsp'"), "{m}");
        let m = missing_message(Path::new("x/y.toml"), "preset", &["dsp", "mac8"]);
        assert!(m.contains("presets are: dsp, mac8"), "{m}");
    }
}
