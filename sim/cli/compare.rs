//! `accelsim compare A.json B.json`: two runs side by side, for a paper.

use super::output::Input;
use super::run::emit;
use crate::report::compare::{compare as table, CompareFormat};
use miette::{miette, IntoDiagnostic, Result, WrapErr};
use std::path::PathBuf;

/// Table formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Markdown.
    Markdown,
    /// LaTeX (booktabs).
    Latex,
}

/// Arguments of `accelsim compare`.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Baseline: the output of `accelsim run --format json`.
    pub a: PathBuf,
    /// Compared run (ratios are B/A).
    pub b: PathBuf,
    /// Table format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
    /// Write the table here (atomically) instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn read(p: &PathBuf) -> Result<serde_json::Value> {
    let text = crate::bounded_read::read_text(p, crate::bounded_read::MAX_TEXT_BYTES)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read {}", p.display()))?;
    serde_json::from_str(&text).into_diagnostic().wrap_err_with(|| format!("{} is not JSON", p.display()))
}

/// `accelsim compare`.
pub fn compare(a: &CompareArgs) -> Result<()> {
    let f = match a.format {
        Format::Markdown => CompareFormat::Markdown,
        Format::Latex => CompareFormat::Latex,
    };
    let text = table(&read(&a.a)?, &read(&a.b)?, f).map_err(|e| miette!("{e}"))?;
    emit(a.out.as_deref(), &text, &[Input::new("A", &a.a), Input::new("B", &a.b)])
}
