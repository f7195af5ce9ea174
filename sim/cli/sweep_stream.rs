//! Streaming sweep output: rows are written in point order batch by batch as the points
//! complete, so memory is bounded by the batch (a few points per thread), not by the
//! sweep, and an interrupted sweep leaves every finished batch in its `--out` file.
//! `--resume` continues such a partial CSV: its header must be this sweep's, its points a
//! contiguous run from the shard's first point; the last point found is dropped (it may
//! have been cut mid-write) and the sweep restarts there.

use crate::sweep::table::{for_each_record, header, json_rows};
use crate::sweep::{PointResult, SweepSpec};
use std::io::Write;
use std::path::Path;

/// Errors of a streamed sweep output.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StreamError {
    /// Writing failed.
    #[error("cannot write the sweep output: {0}")]
    Io(#[from] std::io::Error),
    /// CSV encoding failed.
    #[error("cannot write the sweep output: {0}")]
    Csv(#[from] csv::Error),
    /// The partial output given to `--resume` is not this sweep's.
    #[error("--resume {path}: {message}")]
    Resume {
        /// The file.
        path: String,
        /// What does not match.
        message: String,
    },
}

impl StreamError {
    /// Whether the reader of the output went away (`accelsim sweep | head`): not an error,
    /// the sweep just has no one to write to.
    pub fn is_closed_pipe(&self) -> bool {
        let pipe = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
        match self {
            StreamError::Io(e) => pipe(e),
            StreamError::Csv(e) => matches!(e.kind(), csv::ErrorKind::Io(e) if pipe(e)),
            StreamError::Resume { .. } => false,
        }
    }
}

/// How rows are rendered.
pub enum Rows<W: Write> {
    /// CSV through one writer (header first unless resuming a file that has it).
    Csv(csv::Writer<W>),
    /// A pretty-printed JSON array, byte-identical to `serde_json::to_string_pretty` of the
    /// whole array.
    Json {
        /// The sink.
        out: W,
        /// Rows written so far.
        rows: usize,
    },
}

impl<W: Write> Rows<W> {
    /// CSV rows into `out`; the header is written unless `has_header`.
    pub fn csv(spec: &SweepSpec, out: W, has_header: bool) -> Result<Self, StreamError> {
        let mut w = csv::Writer::from_writer(out);
        if !has_header {
            w.write_record(header(spec))?;
            w.flush()?;
        }
        Ok(Rows::Csv(w))
    }

    /// JSON rows into `out`.
    pub fn json(out: W) -> Self {
        Rows::Json { out, rows: 0 }
    }

    /// Writes the rows of a batch of results (in point order) and flushes them.
    pub fn write(&mut self, spec: &SweepSpec, results: &[PointResult]) -> Result<(), StreamError> {
        match self {
            Rows::Csv(w) => {
                for_each_record(spec, results, |cells| w.write_record(cells))?;
                w.flush()?;
            }
            Rows::Json { out, rows } => {
                for v in json_rows(spec, results) {
                    let text = serde_json::to_string_pretty(&v).map_err(std::io::Error::from)?;
                    out.write_all(if *rows == 0 { b"[\n" } else { b",\n" })?;
                    let indented: Vec<String> = text.lines().map(|l| format!("  {l}")).collect();
                    out.write_all(indented.join("\n").as_bytes())?;
                    *rows += 1;
                }
                out.flush()?;
            }
        }
        Ok(())
    }

    /// Ends the output (the JSON array's closing bracket).
    pub fn finish(self) -> Result<(), StreamError> {
        match self {
            Rows::Csv(mut w) => w.flush()?,
            Rows::Json { mut out, rows } => {
                out.write_all(if rows == 0 { b"[]\n" } else { b"\n]\n" })?;
                out.flush()?;
            }
        }
        Ok(())
    }
}

/// Where a resumed sweep continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeAt {
    /// Bytes of the partial file to keep.
    pub keep_bytes: u64,
    /// The first point still to run.
    pub next_point: usize,
    /// Whether the kept bytes include the header.
    pub has_header: bool,
}

/// Finds where to continue the partial CSV `text` (file `path`) of a sweep over points
/// `first..`, whose header is `header`.
pub fn resume_at(path: &Path, text: &str, header: &[String], first: usize) -> Result<ResumeAt, StreamError> {
    let err = |message: String| StreamError::Resume { path: path.display().to_string(), message };
    // Only complete lines count: a kill can cut the last one.
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let fresh = ResumeAt { keep_bytes: 0, next_point: first, has_header: false };
    if complete == 0 {
        return Ok(fresh);
    }
    let mut r = csv::ReaderBuilder::new().from_reader(text[..complete].as_bytes());
    let h = r.headers().map_err(|e| err(format!("unreadable header: {e}")))?.clone();
    if h.iter().ne(header.iter().map(String::as_str)) {
        return Err(err(format!(
            "its columns ({}) are not this sweep's ({}); resume with the same arguments",
            h.iter().collect::<Vec<_>>().join(","),
            header.join(",")
        )));
    }
    let header_end = r.position().byte();
    // (point, byte offset of its first row), in file order; a malformed row ends the file.
    let mut starts: Vec<(usize, u64)> = Vec::new();
    let mut rec = csv::StringRecord::new();
    loop {
        let at = r.position().byte();
        match r.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) | Err(_) => break,
        }
        let Some(p) = rec.get(0).and_then(|v| v.parse::<usize>().ok()) else { break };
        match starts.last() {
            Some(&(q, _)) if q == p => {}
            Some(&(q, _)) if p != q + 1 => {
                return Err(err(format!("point {p} follows point {q}; a partial output has consecutive points")))
            }
            None if p != first => {
                return Err(err(format!("the first point is {p}, this sweep (shard) starts at point {first}")))
            }
            _ => starts.push((p, at)),
        }
    }
    Ok(match starts.last() {
        None => ResumeAt { keep_bytes: header_end, next_point: first, has_header: true },
        Some(&(p, at)) => ResumeAt { keep_bytes: at, next_point: p, has_header: true },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h() -> Vec<String> {
        vec!["point".into(), "x".into()]
    }

    #[test]
    fn resume_keeps_complete_points_and_redoes_the_last() {
        let p = Path::new("s.csv");
        let text = "point,x\n3,a\n3,b\n4,c\n5,d\n5,e";
        let r = resume_at(p, text, &h(), 3).expect("resumable");
        // Point 5 may be incomplete (its last line is cut): kept up to point 5's first row.
        assert_eq!(r, ResumeAt { keep_bytes: text.find("5,d").unwrap() as u64, next_point: 5, has_header: true });
        let r = resume_at(p, "point,x\n", &h(), 3).expect("header only");
        assert_eq!(r, ResumeAt { keep_bytes: 8, next_point: 3, has_header: true });
        assert_eq!(resume_at(p, "poi", &h(), 3).expect("cut header").keep_bytes, 0);
        assert!(resume_at(p, "point,y\n3,a\n", &h(), 3).is_err());
        assert!(resume_at(p, "point,x\n4,a\n", &h(), 3).unwrap_err().to_string().contains("starts at point 3"));
        assert!(resume_at(p, "point,x\n3,a\n5,a\n", &h(), 3).is_err());
    }
}
