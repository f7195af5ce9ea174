//! The one writer of every output file (`--out`, `--output`, `--dump`, `--scalesim-reports`).
//!
//! What it does with each kind of target (documented for users in `docs/robustness.md`):
//! - a missing file: created through an exclusive temporary file (`O_EXCL`, random name
//!   `.accelsim-XXXXXXXXXXXX.tmp`, fixed length, so any legal target name works) in the
//!   target's directory, then renamed over it; mode 0644. A reader never sees a partial
//!   file and an error leaves no temporary file behind.
//! - an existing regular file: the same, keeping the file's permission bits; refused when it
//!   is read-only (no write permission bit, or not writable by this user).
//! - a regular file with several hard links: rewritten in place (truncate + write), so every
//!   link sees the new content instead of one link being split off.
//! - a symbolic link: written through to the file it finally points to (as a shell `>`
//!   does); the link itself is kept. A dangling link is refused.
//! - a device node or FIFO (`/dev/null`, `/dev/stdout`, a named pipe): opened and written
//!   directly, never replaced or renamed. Sockets and directories are refused.
//! - any path that is also an input of the same command (same file, through any link or
//!   hard link): refused before anything is written.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why an output could not be written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum OutputError {
    /// The output is one of the command's inputs.
    #[error("{flag} {path}: this file is also the {input_flag} input of this command; refusing to overwrite it")]
    IsInput {
        /// The output option.
        flag: String,
        /// The output path.
        path: PathBuf,
        /// The input option it equals.
        input_flag: String,
    },
    /// The target exists and is not writable.
    #[error("{flag} {path}: the file is read-only; make it writable or choose another path")]
    ReadOnly {
        /// The output option.
        flag: String,
        /// The output path.
        path: PathBuf,
    },
    /// The target is a kind of file that cannot hold an output.
    #[error("{flag} {path}: {what}; expected a file path")]
    NotAFile {
        /// The output option.
        flag: String,
        /// The output path.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// The folder the output would be created in does not exist.
    #[error("{flag} {path}: the folder {} does not exist", dir.display())]
    NoFolder {
        /// The output option.
        flag: String,
        /// The output path.
        path: PathBuf,
        /// The missing folder.
        dir: PathBuf,
    },
    /// An IO operation failed.
    #[error("{flag} {path}: cannot {action}: {source}")]
    Io {
        /// The output option.
        flag: String,
        /// The output path.
        path: PathBuf,
        /// What was being done.
        action: String,
        /// The error.
        source: std::io::Error,
    },
}

/// An input of a command, as an output must never overwrite it.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The option that named it (`--model`).
    pub flag: &'a str,
    /// The path as given; names that are not existing files (built-in models, presets) are
    /// ignored.
    pub path: &'a Path,
}

impl<'a> Input<'a> {
    /// An input path named by `flag`.
    pub fn new(flag: &'a str, path: &'a Path) -> Self {
        Input { flag, path }
    }

    /// An input given as a string that may name a file or something built in.
    pub fn spec(flag: &'a str, spec: &'a str) -> Self {
        Input { flag, path: Path::new(spec) }
    }
}

/// What the target path turned out to be.
enum Target {
    /// Nothing there yet: create at this path.
    New(PathBuf),
    /// A regular file (the final target of any links), with its metadata.
    Regular(PathBuf, Metadata),
    /// A device node or FIFO: written directly at the path as given.
    Special,
}

#[cfg(unix)]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &Metadata, _: &Metadata) -> bool {
    false
}

#[cfg(unix)]
fn links(m: &Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    m.nlink()
}

#[cfg(not(unix))]
fn links(_: &Metadata) -> u64 {
    1
}

/// Writes `bytes` to `path` (the value of option `flag`) as described in the module doc,
/// refusing it when it is one of `inputs`.
pub fn write_output(flag: &str, path: &Path, bytes: &[u8], inputs: &[Input]) -> Result<(), OutputError> {
    let io = |action: &str, source| io_error(flag, path, action, source);
    let target = resolve(flag, path, inputs)?;
    match target {
        Target::Special => {
            let mut f = OpenOptions::new().write(true).open(path).map_err(|e| io("open it for writing", e))?;
            f.write_all(bytes).and_then(|_| f.flush()).map_err(|e| io("write", e))
        }
        Target::New(p) => replace(&p, bytes, 0o644).map_err(|(a, e)| io(a, e)),
        Target::Regular(p, meta) => {
            if links(&meta) > 1 {
                let mut f =
                    OpenOptions::new().write(true).truncate(true).open(&p).map_err(|e| io("open it for writing", e))?;
                return f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| io("write", e));
            }
            replace(&p, bytes, mode(&meta)).map_err(|(a, e)| io(a, e))
        }
    }
}

/// Opens `path` (the value of option `flag`) for a streamed output that grows as results
/// complete (sweep rows): the same refusals as [`write_output`] (inputs, read-only files,
/// directories, sockets, dangling links), but written in place -- links followed, a new
/// file created with mode 0644, an existing one truncated, or appended to when `append`
/// (resuming). Not atomic by design: an interrupted command leaves the complete prefix it
/// wrote, which `--resume` continues.
pub fn open_stream(flag: &str, path: &Path, inputs: &[Input], append: bool) -> Result<File, OutputError> {
    let io = |action: &str, source| io_error(flag, path, action, source);
    let target = resolve(flag, path, inputs)?;
    let mut o = OpenOptions::new();
    o.write(true);
    match target {
        Target::Special => {}
        Target::New(_) => {
            o.create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o644);
        }
        Target::Regular(..) => {
            if append {
                o.append(true);
            } else {
                o.truncate(true);
            }
        }
    }
    o.open(path).map_err(|e| io("open it for writing", e))
}

/// Checks, before any work, that `path` (the value of option `flag`) can take an output:
/// the same refusals as [`write_output`] (an input of the command, a read-only file, a
/// directory, a socket, a dangling link, a missing folder), so a long command does not fail
/// only at its end. Writes nothing.
pub fn check_output(flag: &str, path: &Path, inputs: &[Input]) -> Result<(), OutputError> {
    resolve(flag, path, inputs).map(|_| ())
}

/// What `path` is, refusing what no output may replace: an input of the command, a
/// read-only file, a directory, a socket, a dangling link.
fn resolve(flag: &str, path: &Path, inputs: &[Input]) -> Result<Target, OutputError> {
    let target = classify(path).map_err(|e| match e {
        Classify::Io(action, source) => io_error(flag, path, action, source),
        Classify::NotAFile(what) => OutputError::NotAFile { flag: flag.to_string(), path: path.to_path_buf(), what },
    })?;
    check_inputs(flag, path, inputs)?;
    if let Target::New(p) = &target {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(OutputError::NoFolder {
                flag: flag.to_string(),
                path: path.to_path_buf(),
                dir: dir.to_path_buf(),
            });
        }
    }
    if let Target::Regular(p, meta) = &target {
        if meta.permissions().readonly() || OpenOptions::new().write(true).open(p).is_err() {
            return Err(OutputError::ReadOnly { flag: flag.to_string(), path: path.to_path_buf() });
        }
    }
    Ok(target)
}

fn io_error(flag: &str, path: &Path, action: &str, source: std::io::Error) -> OutputError {
    OutputError::Io { flag: flag.to_string(), path: path.to_path_buf(), action: action.to_string(), source }
}

/// Refuses `path` when it is the same file as one of `inputs`.
fn check_inputs(flag: &str, path: &Path, inputs: &[Input]) -> Result<(), OutputError> {
    // Compare file identities (links and hard links included). A target that does not
    // exist yet cannot be an input.
    if let Ok(out_meta) = std::fs::metadata(path) {
        for i in inputs {
            if std::fs::metadata(i.path).is_ok_and(|m| same_file(&m, &out_meta)) {
                return Err(OutputError::IsInput {
                    flag: flag.to_string(),
                    path: path.to_path_buf(),
                    input_flag: i.flag.to_string(),
                });
            }
        }
    }
    Ok(())
}

enum Classify {
    Io(&'static str, std::io::Error),
    NotAFile(&'static str),
}

fn classify(path: &Path) -> Result<Target, Classify> {
    use std::io::ErrorKind::NotFound;
    if path.file_name().is_none() {
        return Err(Classify::NotAFile("this path names no file"));
    }
    let link = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == NotFound => return Ok(Target::New(path.to_path_buf())),
        Err(e) => return Err(Classify::Io("inspect it", e)),
    };
    // Follow links to what they finally name.
    let meta = if link.file_type().is_symlink() {
        match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == NotFound => return Err(Classify::NotAFile("a symbolic link to nothing")),
            Err(e) => return Err(Classify::Io("follow the symbolic link", e)),
        }
    } else {
        link.clone()
    };
    let ft = meta.file_type();
    if ft.is_dir() {
        return Err(Classify::NotAFile("a directory"));
    }
    if ft.is_file() {
        let real = if link.file_type().is_symlink() {
            std::fs::canonicalize(path).map_err(|e| Classify::Io("follow the symbolic link", e))?
        } else {
            path.to_path_buf()
        };
        return Ok(Target::Regular(real, meta));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_socket() {
            return Err(Classify::NotAFile("a socket"));
        }
    }
    Ok(Target::Special)
}

#[cfg(unix)]
fn mode(m: &Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode(_: &Metadata) -> u32 {
    0o644
}

/// Atomically replaces (or creates) the regular file `path` with `bytes`, with permission
/// bits `mode`: an exclusive, randomly named temporary file in the same directory, synced,
/// then renamed. The temporary file is removed on any error (`NamedTempFile`'s drop).
fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), (&'static str, std::io::Error)> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".accelsim-")
        .suffix(".tmp")
        .rand_bytes(12)
        .tempfile_in(dir)
        .map_err(|e| ("create a temporary file in its directory", e))?;
    set_mode(tmp.as_file(), mode).map_err(|e| ("set its permissions", e))?;
    tmp.write_all(bytes).and_then(|_| tmp.as_file().sync_all()).map_err(|e| ("write", e))?;
    tmp.persist(path).map_err(|e| ("replace it", e.error))?;
    Ok(())
}

#[cfg(unix)]
fn set_mode(f: &File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &File, _: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn write(p: &Path, b: &[u8]) -> Result<(), OutputError> {
        write_output("--out", p, b, &[])
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".accelsim-"))
            .collect()
    }

    #[test]
    fn new_files_are_0644_and_leave_no_temporary() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("out.csv");
        write(&p, b"a\n").expect("written");
        assert_eq!(std::fs::read(&p).expect("read"), b"a\n");
        assert_eq!(std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777, 0o644);
        assert!(leftovers(d.path()).is_empty());
    }

    #[test]
    fn existing_files_keep_their_mode() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("secret.json");
        std::fs::write(&p, b"old").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        write(&p, b"new").expect("written");
        assert_eq!(std::fs::read(&p).expect("read"), b"new");
        assert_eq!(std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn read_only_files_are_refused_and_kept() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("ro.csv");
        std::fs::write(&p, b"keep").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).expect("chmod");
        let e = write(&p, b"new").expect_err("refused");
        assert!(e.to_string().contains("read-only"), "{e}");
        assert_eq!(std::fs::read(&p).expect("read"), b"keep");
        assert!(leftovers(d.path()).is_empty());
    }

    #[test]
    fn symlinks_are_written_through_and_kept() {
        let d = tempfile::tempdir().expect("tempdir");
        let real = d.path().join("real.csv");
        std::fs::write(&real, b"old").expect("write");
        let link = d.path().join("link.csv");
        symlink(&real, &link).expect("symlink");
        write(&link, b"new").expect("written");
        assert!(std::fs::symlink_metadata(&link).expect("meta").file_type().is_symlink());
        assert_eq!(std::fs::read(&real).expect("read"), b"new");
        let dangling = d.path().join("dangling.csv");
        symlink(d.path().join("missing/nowhere"), &dangling).expect("symlink");
        let e = write(&dangling, b"x").expect_err("refused");
        assert!(e.to_string().contains("symbolic link to nothing"), "{e}");
    }

    #[test]
    fn hard_links_stay_linked() {
        let d = tempfile::tempdir().expect("tempdir");
        let a = d.path().join("a.csv");
        let b = d.path().join("b.csv");
        std::fs::write(&a, b"old").expect("write");
        std::fs::hard_link(&a, &b).expect("link");
        write(&a, b"new").expect("written");
        assert_eq!(std::fs::read(&b).expect("read"), b"new");
    }

    #[test]
    fn fifos_are_written_directly_not_replaced() {
        let d = tempfile::tempdir().expect("tempdir");
        let fifo = d.path().join("pipe");
        let ok = std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success());
        if !ok {
            // No mkfifo on this system: nothing to test (the CI image has coreutils).
            return;
        }
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(&fifo).expect("read fifo"))
        };
        write(&fifo, b"through the pipe").expect("written");
        assert_eq!(reader.join().expect("reader"), b"through the pipe");
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(&fifo).expect("meta").file_type().is_fifo());
    }

    #[test]
    fn directories_and_inputs_are_refused() {
        let d = tempfile::tempdir().expect("tempdir");
        let e = write(d.path(), b"x").expect_err("refused");
        assert!(e.to_string().contains("directory"), "{e}");
        let m = d.path().join("m.toml");
        std::fs::write(&m, b"model").expect("write");
        let link = d.path().join("alias.toml");
        symlink(&m, &link).expect("symlink");
        let e = write_output("--out", &link, b"x", &[Input::new("--model", &m)]).expect_err("refused");
        assert!(e.to_string().contains("--model"), "{e}");
        assert_eq!(std::fs::read(&m).expect("read"), b"model");
    }

    #[test]
    fn longest_legal_names_work() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("x".repeat(255));
        write(&p, b"ok").expect("written");
        assert_eq!(std::fs::read(&p).expect("read"), b"ok");
    }
}
