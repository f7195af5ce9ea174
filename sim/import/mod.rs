//! Importers: everything that turns a file or a built-in name into an [`crate::ir::Graph`].
//!
//! Architecture invariant: importers are the only code that reads model files; every graph
//! they return has passed [`crate::ir::Graph::validate`].

pub mod aqm;
pub mod builtin;
pub mod model_file;
pub mod npy;
pub mod onnx;
pub mod scalesim;
pub mod tflite;
pub mod unsupported;

use crate::diag::FileError;
use crate::ir::{Graph, RopeScaling};
use std::path::Path;

/// The shape of a model input given on the command line (`--input-shape NAME=1x3x224x224`),
/// in the model file's own dimension order; fixes the input's dynamic dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputShape {
    /// The input's name in the model file.
    pub name: String,
    /// Its dimensions.
    pub dims: Vec<usize>,
}

impl std::str::FromStr for InputShape {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, dims) =
            s.rsplit_once('=').ok_or_else(|| format!("'{s}' is not NAME=DIMS (for example input=1x3x224x224)"))?;
        let dims = dims
            .split(['x', 'X', ','])
            .map(|d| d.trim().parse::<usize>().ok().filter(|&d| d > 0))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("'{dims}' in '{s}' is not a list of positive sizes like 1x3x224x224"))?;
        if name.is_empty() {
            return Err(format!("'{s}' names no input (NAME=DIMS)"));
        }
        Ok(InputShape { name: name.to_string(), dims })
    }
}

/// Options that reshape a network as it is loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadOptions {
    /// MobileNet width multiplier (1.0 = as published).
    pub width: f64,
    /// Input resolution (square), `None` = as published.
    pub resolution: Option<usize>,
    /// Seed of the synthetic weights of built-in networks.
    pub seed: u64,
    /// Shapes of ONNX inputs with dynamic dimensions.
    pub input_shapes: Vec<InputShape>,
    /// The inference phase of a model file with a `[sequence]` axis (transformers);
    /// `None`: prefill at the file's `default_len`.
    pub phase: Option<SeqPhase>,
}

/// Which step of autoregressive inference a transformer model file is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqPhase {
    /// The whole prompt at once: `len` tokens, each attending to the ones before it.
    Prefill {
        /// Tokens in the prompt (the `seq` axis).
        len: usize,
    },
    /// One new token attending to `kv_len` positions held in the KV cache (its own key and
    /// value among them, written by this step's projections).
    Decode {
        /// Positions in the KV cache.
        kv_len: usize,
    },
}

impl SeqPhase {
    /// Tokens one sequence gets the states of: a prefill's prompt, or the one token of a
    /// decode step.
    pub fn tokens(self) -> usize {
        match self {
            SeqPhase::Prefill { len } => len,
            SeqPhase::Decode { .. } => 1,
        }
    }
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { width: 1.0, resolution: None, seed: 0x5eed, input_shapes: Vec::new(), phase: None }
    }
}

/// The extensions `--model` reads as files.
pub const MODEL_EXTENSIONS: &[&str] = &["toml", "tflite", "onnx", "aqm", "csv"];

/// Loads a network by built-in name (`mnv1`, ...) or by path (`.toml` model files, `.csv`
/// SCALE-Sim topologies; other
/// formats are added by their importers). A path that exists wins over a built-in name; an
/// argument that looks like a path (see [`crate::source`]) must exist.
pub fn load_model(spec: &str, opts: &LoadOptions) -> Result<Graph, FileError> {
    let path = Path::new(spec);
    if let crate::source::Source::Missing(p) = crate::source::resolve(spec, MODEL_EXTENSIONS) {
        return Err(FileError::whole(spec, crate::source::missing_message(p, "built-in network", &builtin::names())));
    }
    if !opts.input_shapes.is_empty() && !spec.to_ascii_lowercase().ends_with(".onnx") {
        return Err(FileError::whole(spec, "--input-shape applies to .onnx models only".to_string()));
    }
    if path.is_file() {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        if opts.phase.is_some() && ext != "toml" {
            return Err(FileError::whole(
                spec,
                "--phase, --seq-len and --kv-len apply to model files with a [sequence] axis (the transformer built-ins)"
                    .to_string(),
            ));
        }
        return match ext.as_str() {
            "tflite" => tflite::import_tflite(path)
                .map(|m| named_after_file(m.graph, path))
                .map_err(|e| FileError::whole(spec, e.to_string())),
            "onnx" => onnx::import_onnx_with(path, &opts.input_shapes)
                .map(|g| named_after_file(g, path))
                .map_err(|e| FileError::whole(spec, e.to_string())),
            "aqm" => aqm::read(path),
            "toml" => {
                let text =
                    crate::bounded_read::read_text(path, crate::bounded_read::MAX_TEXT_BYTES).map_err(|e| FileError::whole(spec, format!("cannot read: {e}")))?;
                model_file::parse(spec, &text, opts)
            }
            "csv" => scalesim::load(spec),
            other => Err(FileError::whole(
                spec,
                format!(
                    "unknown model format '.{other}': expected a built-in name ({}), a .toml model file, a .tflite, .onnx or .aqm (accelsim quantized) file, or a .csv SCALE-Sim topology",
                    builtin::names().join(", ")
                ),
            )),
        };
    }
    let name = spec.strip_suffix(".toml").unwrap_or(spec);
    match builtin::source(name) {
        Some(text) => model_file::parse(&format!("models/{name}.toml"), text, opts),
        None => Err(FileError::whole(
            spec,
            format!("no such file, and not a built-in network; built-in networks are: {}", builtin::names().join(", ")),
        )),
    }
}

/// Exporters name graphs generically ("main", "tf2onnx"): reports name the network after
/// its file instead.
fn named_after_file(mut g: Graph, path: &Path) -> Graph {
    if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
        g.name = stem.to_string();
    }
    g
}

/// Llama 3's rotary frequency scaling as model files (`rope_scaling = { ... }`) and `.aqm`
/// files write it: one mirror of `ir::RopeScaling` for both formats.
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRopeScaling {
    factor: f32,
    low_freq_factor: f32,
    high_freq_factor: f32,
    original_max_positions: usize,
}

impl From<RawRopeScaling> for RopeScaling {
    fn from(s: RawRopeScaling) -> Self {
        RopeScaling {
            factor: s.factor,
            low_freq_factor: s.low_freq_factor,
            high_freq_factor: s.high_freq_factor,
            original_max_positions: s.original_max_positions,
        }
    }
}

impl From<RopeScaling> for RawRopeScaling {
    fn from(s: RopeScaling) -> Self {
        RawRopeScaling {
            factor: s.factor,
            low_freq_factor: s.low_freq_factor,
            high_freq_factor: s.high_freq_factor,
            original_max_positions: s.original_max_positions,
        }
    }
}
