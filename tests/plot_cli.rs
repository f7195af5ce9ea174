//! End-to-end: `accelsim plot` gives figures a paper can take (issue 17): the format by the
//! output's extension (vector PDF with the font, PNG at a DPI, SVG in inches), a panel per
//! network where series would mix, readable category labels, the points a figure leaves out
//! said on stderr, and sweep JSON as input.

mod common;

use std::path::Path;

fn accelsim(args: &[&str], dir: &Path) -> (bool, String, String) {
    common::accelsim_in(args, Some(dir))
}

/// A per-layer sweep of two networks on two accelerators at two weight widths.
fn sweep(dir: &Path, format: &str) -> String {
    let out = format!("s.{format}");
    let args = [
        "sweep",
        "--hw",
        "systolic32,nvdla_full",
        "--model",
        "mnv1,resnet18",
        "--wbits",
        "4,8",
        "--per-layer",
        "--format",
        format,
        "--out",
        &out,
    ];
    let (ok, _, err) = accelsim(&args, dir);
    assert!(ok, "{err}");
    out
}

fn plot(dir: &Path, args: &[&str]) -> (bool, String) {
    let (ok, _, err) = accelsim(&[&["plot", "--input", "s.csv"][..], args].concat(), dir);
    (ok, err)
}

#[test]
fn the_extension_chooses_pdf_png_or_svg_and_sizes_are_physical() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    sweep(p, "csv");
    let (ok, err) = plot(p, &["--kind", "latency-vs-bits", "--out", "f.pdf", "--width", "3.5in", "--height", "3in"]);
    assert!(ok, "{err}");
    let pdf = std::fs::read(p.join("f.pdf")).unwrap();
    let text = String::from_utf8_lossy(&pdf);
    assert!(pdf.starts_with(b"%PDF") && text.contains("DejaVuSans") && text.contains("FontFile2"), "font embedded");
    assert!(text.contains("/MediaBox [0 0 252 216]"), "3.5 x 3 in is 252 x 216 pt");
    let (ok, err) = plot(p, &["--kind", "roofline", "--out", "f.png", "--width", "89mm", "--dpi", "100"]);
    assert!(ok, "{err}");
    let png = std::fs::read(p.join("f.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 350, "89 mm at 100 dpi");
    let (ok, err) = plot(p, &["--kind", "roofline", "--out", "f.svg", "--width", "7in", "--font-size", "9"]);
    assert!(ok, "{err}");
    let svg = std::fs::read_to_string(p.join("f.svg")).unwrap();
    assert!(svg.contains("width=\"7in\""), "{}", &svg[..200]);
    for (args, want) in [
        (&["--kind", "roofline", "--out", "f.jpg"][..], ".svg, .pdf or .png"),
        (&["--kind", "roofline", "--out", "f.svg", "--png"][..], "extension chooses"),
        (&["--kind", "roofline", "--out", "f.svg", "--width", "7"][..], "give a unit"),
    ] {
        let (ok, err) = plot(p, args);
        let err = err.split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ");
        assert!(!ok && err.contains(want), "{args:?}: {err}");
    }
    assert!(!p.join("f.jpg").exists());
}

#[test]
fn per_layer_draws_a_panel_per_network_with_its_own_layers() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    sweep(p, "csv");
    let (ok, err) = plot(p, &["--kind", "per-layer", "--out", "l.svg"]);
    assert!(ok, "{err}");
    let svg = std::fs::read_to_string(p.join("l.svg")).unwrap();
    assert!(svg.contains("mnv1: per-layer latency") && svg.contains("resnet18: per-layer latency"));
    // Each network's layer names (not one network's names under the other's bars).
    assert!(svg.contains("\nconv1_dw\n</text>") && svg.contains("\nlayer1_0_conv1\n</text>"));
    // Category labels are vertical and end at the axis; the axis has a title.
    assert!(svg.contains("text-anchor=\"end\"") && svg.contains("rotate(270"), "rotated labels");
    assert!(svg.contains("\nlayer\n</text>"), "x-axis title");
}

#[test]
fn figures_say_what_they_leave_out_and_honour_point() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    sweep(p, "csv");
    // Energy breakdown of two chosen points only.
    let (ok, err) = plot(p, &["--kind", "energy-breakdown", "--point", "1,6", "--out", "e.svg"]);
    assert!(ok, "{err}");
    let svg = std::fs::read_to_string(p.join("e.svg")).unwrap();
    assert!(
        svg.contains("\nsystolic32 mnv1 w8a8\n</text>") && svg.contains("\nnvdla_full resnet18 w4a8\n</text>"),
        "points 1 and 6"
    );
    assert!(!svg.contains("\nsystolic32 mnv1 w4a8\n</text>"), "point 0 is not drawn");
    assert!(svg.contains("\ndesign point\n</text>"), "x-axis title");
    // Tick numbers without needless decimals, energy in a unit that keeps them small.
    assert!(!svg.contains(".0\n</text>"), "a tick like 12000.0");
    // A speedup baseline missing for some points: they are named.
    let args = ["sweep", "--hw", "systolic32,mac8", "--model", "mnv1", "--wbits", "8,16", "--out", "b.csv"];
    let (ok, _, err) = accelsim(&args, p);
    assert!(ok, "{err}");
    let (ok, _, err) = accelsim(&["plot", "--input", "b.csv", "--kind", "speedup", "--out", "b.svg"], p);
    assert!(ok, "{err}");
    assert!(err.contains("left out 1 design point") && err.contains("mac8 mnv1 w16a8"), "{err}");
}

#[test]
fn sweep_json_plots_like_its_csv() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    sweep(p, "csv");
    sweep(p, "json");
    for input in ["s.csv", "s.json"] {
        let out = format!("{input}.svg");
        let (ok, _, err) = accelsim(&["plot", "--input", input, "--kind", "latency-vs-bits", "--out", &out], p);
        assert!(ok, "{input}: {err}");
    }
    let a = std::fs::read_to_string(p.join("s.csv.svg")).unwrap();
    let b = std::fs::read_to_string(p.join("s.json.svg")).unwrap();
    assert_eq!(a, b, "the same figure from CSV and JSON");
}
