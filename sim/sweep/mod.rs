//! Design-space sweeps: the cartesian product of accelerators, networks, bit widths and
//! numeric overrides of the accelerator description, costed in parallel.
//!
//! - [`plan`]: the list of design points, from command-line lists or a sweep TOML file;
//! - [`axes`]: the transformer and granularity axes of a plan (workloads, weight groups,
//!   activation scales, KV-cache widths and groups);
//! - [`shard`]: a deterministic slice of the points (Slurm job arrays);
//! - [`run`]: costs the points with rayon, one graph per (network, widths) shared by all
//!   hardware points, results in point order whatever the thread count;
//! - [`functional`]: `--functional` SQNR / top-1, once per functional key (network,
//!   widths, quantizer options, accelerator arithmetic), shared by the points with that key;
//! - [`table`]: the tidy rows (one per design point, optionally one per layer) and their
//!   CSV / JSON renderings;
//! - [`merge`]: joins the CSV outputs of shards back into point order.
//!
//! Architecture invariant: nothing here does IO except [`plan::SweepSpec::from_toml`]'s
//! caller and the CLI; a failing point becomes an error row, never an early return.

pub mod axes;
pub mod functional;
pub mod merge;
pub mod plan;
pub mod run;
pub mod shard;
pub mod table;

pub use merge::merge_csv;
pub use plan::{Point, SweepSpec};
pub use run::{run_points, run_sweep, PointResult, SweepRun};
pub use shard::Shard;
pub use table::{to_csv, to_json, COLUMNS, FUNCTIONAL_COLUMNS};
