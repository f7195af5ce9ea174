//! Runs the real `accelsim` binary on every SCALE-Sim fixture (`tests/fixtures/scalesim/`):
//! `--hw scale.cfg --model {conv,gemm}_topology.csv --format csv` must give, for every
//! topology row, `compute_cycles` equal to SCALE-Sim's `Total Cycles - Stall Cycles` (a `DP`
//! row: the sum over the one-channel layers SCALE-Sim expands it into), and
//! `--scalesim-reports` must write a COMPUTE_REPORT.csv whose mapping and compute
//! utilisation columns equal SCALE-Sim's.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Splits a CSV line, honouring double quotes.
fn split_csv(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_string()).collect()
}

/// SCALE-Sim data rows: header skipped, trailing field dropped.
fn scalesim_rows(path: &Path) -> Vec<Vec<String>> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = split_csv(l);
            f.pop();
            f
        })
        .collect()
}

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_accelsim")).args(args).output().expect("run accelsim");
    assert!(out.status.success(), "accelsim {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

fn fixture_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scalesim");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("scale.cfg").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn compute_cycles_match_scalesim_for_all_fixture_configs() {
    let dirs = fixture_dirs();
    assert_eq!(dirs.len(), 12, "expected 12 fixture configs");
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut rows_checked, mut failures) = (0usize, Vec::new());
    for dir in &dirs {
        let cfg = dir.join("scale.cfg");
        for kind in ["conv", "gemm"] {
            let topo = dir.join(format!("{kind}_topology.csv"));
            let reports = tmp.path().join(format!("{}_{kind}", dir.file_name().unwrap().to_string_lossy()));
            let csv = run(&[
                "run",
                "--hw",
                cfg.to_str().unwrap(),
                "--model",
                topo.to_str().unwrap(),
                "--format",
                "csv",
                "--scalesim-reports",
                reports.to_str().unwrap(),
            ]);
            let mut lines = csv.lines();
            let header = split_csv(lines.next().expect("header"));
            let col = header.iter().position(|h| h == "compute_cycles").expect("compute_cycles column");
            let ours: Vec<Vec<String>> =
                lines.map(split_csv).filter(|f| f.first().is_some_and(|n| n != "TOTAL")).collect();
            let ours_report = scalesim_rows(&reports.join("COMPUTE_REPORT.csv"));
            let theirs = scalesim_rows(&dir.join(format!("{kind}_COMPUTE_REPORT.csv")));
            let topo_rows = scalesim_rows(&topo);
            assert_eq!(ours.len(), topo_rows.len(), "{}: one layer per topology row", topo.display());
            assert_eq!(ours_report.len(), topo_rows.len());
            let their_detailed = scalesim_rows(&dir.join(format!("{kind}_DETAILED_ACCESS_REPORT.csv")));
            let our_detailed = scalesim_rows(&reports.join("DETAILED_ACCESS_REPORT.csv"));
            let their_bw = scalesim_rows(&dir.join(format!("{kind}_BANDWIDTH_REPORT.csv")));
            let our_bw = scalesim_rows(&reports.join("BANDWIDTH_REPORT.csv"));
            let mut checked_here = 0usize;
            let mut next = 0usize;
            for ((t, o), rep) in topo_rows.iter().zip(&ours).zip(&ours_report) {
                let copies = if kind == "conv" && t[0].contains("DP") { t[5].parse::<usize>().unwrap() } else { 1 };
                let rows = &theirs[next..next + copies];
                next += copies;
                let want: u64 = rows.iter().map(|r| r[2].parse::<u64>().unwrap() - r[3].parse::<u64>().unwrap()).sum();
                let got: u64 = o[col].parse().unwrap();
                let ctx = format!("{} {kind} {}", dir.file_name().unwrap().to_string_lossy(), t[0]);
                if got != want {
                    failures.push(format!("{ctx}: compute_cycles {got} vs SCALE-Sim {want}"));
                }
                let (map, util): (f64, f64) = (rows[0][5].parse().unwrap(), rows[0][6].parse().unwrap());
                let (omap, outil): (f64, f64) = (rep[4].parse().unwrap(), rep[5].parse().unwrap());
                if !close(map, omap) || !close(util, outil) {
                    failures.push(format!("{ctx}: mapping/util {omap}/{outil} vs SCALE-Sim {map}/{util}"));
                }
                let total: u64 = rep[1].parse().unwrap();
                let stall: u64 = rep[2].parse().unwrap();
                if total - stall != got {
                    failures.push(format!("{ctx}: report total - stall {} != compute {got}", total - stall));
                }
                // InterfaceBandwidth = CALC: no stalls, so total cycles and overall
                // utilization are SCALE-Sim's too.
                let their_total: u64 = rows.iter().map(|r| r[2].parse::<u64>().unwrap()).sum();
                let overall: f64 = rows[0][4].parse().unwrap();
                if stall != 0 || total != their_total || !close(overall, rep[3].parse().unwrap()) {
                    failures.push(format!(
                        "{ctx}: total/stall/overall {total}/{stall}/{} vs SCALE-Sim {their_total}/0/{overall}",
                        rep[3]
                    ));
                }
                // SRAM reads of the array: SCALE-Sim's counts, and its bandwidths.
                let sum = |rs: &[Vec<String>], c: usize| rs.iter().map(|r| r[c].parse::<u64>().unwrap()).sum::<u64>();
                let (their_det, our_det) = (&their_detailed[next - copies..next], &our_detailed[checked_here]);
                // DRAM IFMAP reads are SCALE-Sim's whole ifmap, except where a filter smaller
                // than its stride skips pixels: SCALE-Sim fetches only the words some window
                // touches, accelsim's DMA moves the whole input tensor.
                let skips_pixels = kind == "conv" && t[3].parse::<u64>().unwrap() < t[7].parse::<u64>().unwrap();
                let columns: &[(usize, &str)] = if skips_pixels {
                    &[(3, "SRAM IFMAP reads"), (6, "SRAM Filter reads")]
                } else {
                    &[(3, "SRAM IFMAP reads"), (6, "SRAM Filter reads"), (12, "DRAM IFMAP reads")]
                };
                for &(c, what) in columns {
                    let (theirs_n, ours_n) = (sum(their_det, c), our_det[c].parse::<u64>().unwrap());
                    if theirs_n != ours_n {
                        failures.push(format!("{ctx}: {what} {ours_n} vs SCALE-Sim {theirs_n}"));
                    }
                }
                for c in [1, 2] {
                    let (b_theirs, b_ours): (f64, f64) =
                        (their_bw[next - copies][c].parse().unwrap(), our_bw[checked_here][c].parse().unwrap());
                    if !close(b_theirs, b_ours) {
                        failures.push(format!("{ctx}: SRAM bandwidth column {c}: {b_ours} vs SCALE-Sim {b_theirs}"));
                    }
                }
                checked_here += 1;
                rows_checked += 1;
            }
            assert_eq!(next, theirs.len(), "{}: SCALE-Sim rows left over", topo.display());
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    eprintln!("{rows_checked} topology rows in {} configs: compute cycles identical to SCALE-Sim", dirs.len());
}

#[test]
fn bad_config_value_names_file_line_and_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scalesim/8x8_os/scale.cfg");
    let cfg = tmp.path().join("bad.cfg");
    fs::write(&cfg, fs::read_to_string(src).unwrap().replace("ArrayWidth = 8", "ArrayWidth = eight")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_accelsim"))
        .args(["run", "--hw", cfg.to_str().unwrap(), "--model", "mnv1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.cfg:6") && err.contains("ArrayWidth"), "{err}");
}
