//! Checks `accelsim::map::systolic` against every SCALE-Sim 3.0.0 report in
//! `tests/fixtures/scalesim/` (regenerate them with `make_fixtures.py` there).
//!
//! The fixture files are parsed by a tiny std-only reader below that follows
//! SCALE-Sim's own parsing rules (`topology_utils.py`): every row's last
//! comma-separated field is dropped, the header row is skipped, one stride
//! column applies to both axes, and a conv row whose name contains `DP` is
//! expanded into `Channels` one-channel layers.

use std::fs;
use std::path::{Path, PathBuf};

use accelsim::map::systolic::{compute, lower_conv, lower_matmul, overall_utilization, ConvShape, Dataflow, Gemm};

struct Config {
    rows: u64,
    cols: u64,
    dataflow: Dataflow,
}

fn read_cfg(path: &Path) -> Config {
    let text = fs::read_to_string(path).unwrap();
    let get = |key: &str| -> String {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| panic!("{}: no {key}", path.display()))
    };
    Config {
        rows: get("ArrayHeight").parse().unwrap(),
        cols: get("ArrayWidth").parse().unwrap(),
        dataflow: get("Dataflow").parse().unwrap(),
    }
}

/// Data rows of a SCALE-Sim-style CSV: header skipped, blank lines skipped,
/// last field of each row dropped, fields trimmed.
fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut f: Vec<String> = l.split(',').map(|s| s.trim().to_string()).collect();
            f.pop();
            f
        })
        .collect()
}

/// One simulated layer: its name, MAC count and GEMM for the dataflow.
struct Layer {
    name: String,
    macs: u64,
    gemm: Gemm,
}

fn conv_layers(path: &Path, df: Dataflow) -> Vec<Layer> {
    let mut out = Vec::new();
    for f in csv_rows(path) {
        let n = |i: usize| -> u64 { f[i].parse().unwrap() };
        let conv = ConvShape {
            ifmap_h: n(1),
            ifmap_w: n(2),
            filter_h: n(3),
            filter_w: n(4),
            channels: n(5),
            num_filters: n(6),
            stride_h: n(7),
            stride_w: n(7),
        };
        let (copies, shape) = if f[0].contains("DP") { (conv.channels, conv.depthwise_channel()) } else { (1, conv) };
        for i in 0..copies {
            out.push(Layer {
                name: if copies > 1 || f[0].contains("DP") { format!("{}Channel_{i}", f[0]) } else { f[0].clone() },
                macs: shape.macs().unwrap(),
                gemm: lower_conv(df, &shape).unwrap(),
            });
        }
    }
    out
}

fn gemm_layers(path: &Path, df: Dataflow) -> Vec<Layer> {
    csv_rows(path)
        .into_iter()
        .map(|f| {
            let n = |i: usize| -> u64 { f[i].parse().unwrap() };
            let (m, nn, k) = (n(1), n(2), n(3));
            Layer { name: f[0].clone(), macs: m * nn * k, gemm: lower_matmul(df, m, nn, k) }
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn fixture_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scalesim");
    let mut dirs: Vec<PathBuf> =
        fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("scale.cfg").is_file()).collect();
    dirs.sort();
    dirs
}

#[test]
fn matches_every_scalesim_compute_report() {
    let dirs = fixture_dirs();
    assert!(dirs.len() >= 9, "expected at least 3 arrays x 3 dataflows, found {}", dirs.len());
    let mut checked = 0usize;
    let mut failures = Vec::new();
    for dir in &dirs {
        let cfg = read_cfg(&dir.join("scale.cfg"));
        for kind in ["conv", "gemm"] {
            let topo = dir.join(format!("{kind}_topology.csv"));
            let report = dir.join(format!("{kind}_COMPUTE_REPORT.csv"));
            if !topo.is_file() {
                continue;
            }
            let layers =
                if kind == "conv" { conv_layers(&topo, cfg.dataflow) } else { gemm_layers(&topo, cfg.dataflow) };
            let rows = csv_rows(&report);
            assert_eq!(rows.len(), layers.len(), "{}: layer count", report.display());
            for (row, layer) in rows.iter().zip(&layers) {
                let total: u64 = row[2].parse().unwrap();
                let stall: u64 = row[3].parse().unwrap();
                let overall: f64 = row[4].parse().unwrap();
                let mapping: f64 = row[5].parse().unwrap();
                let util: f64 = row[6].parse().unwrap();
                let got = compute(cfg.dataflow, cfg.rows, cfg.cols, layer.gemm).unwrap();
                let ctx = format!(
                    "{} {} layer {} ({}) {:?}",
                    dir.file_name().unwrap().to_string_lossy(),
                    kind,
                    row[0],
                    layer.name,
                    layer.gemm
                );
                // CALC bandwidth mode: no stalls, and Total Cycles include them anyway.
                if stall != 0 {
                    failures.push(format!("{ctx}: unexpected stall cycles {stall}"));
                }
                if got.compute_cycles != total - stall {
                    failures.push(format!(
                        "{ctx}: cycles {} vs SCALE-Sim {} (diff {})",
                        got.compute_cycles,
                        total - stall,
                        got.compute_cycles as i128 - (total - stall) as i128
                    ));
                }
                if !close(got.mapping_efficiency, mapping) {
                    failures.push(format!("{ctx}: mapping {} vs {mapping}", got.mapping_efficiency));
                }
                if !close(got.compute_utilization, util) {
                    failures.push(format!("{ctx}: compute util {} vs {util}", got.compute_utilization));
                }
                let ov = overall_utilization(layer.macs, total, cfg.rows, cfg.cols);
                if !close(ov, overall) {
                    failures.push(format!("{ctx}: overall util {ov} vs {overall}"));
                }
                checked += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= 20 * 9, "only {checked} report rows checked");
    eprintln!("checked {checked} SCALE-Sim report rows in {} fixture dirs: 0-cycle difference", dirs.len());
}
