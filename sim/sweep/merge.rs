//! Joining the CSV outputs of sweep shards: the headers must agree; rows are put back in
//! point order (stable, so a point's total and layer rows keep their order).

/// Why shards cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MergeError(pub String);

/// Merges `(name, csv text)` shards into one CSV text.
pub fn merge_csv(inputs: &[(String, String)]) -> Result<String, MergeError> {
    let mut header: Option<(String, csv::StringRecord)> = None;
    let mut rows: Vec<(usize, csv::StringRecord)> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (i, (name, text)) in inputs.iter().enumerate() {
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let h = r.headers().map_err(|e| MergeError(format!("{name}: {e}")))?.clone();
        let col =
            h.iter().position(|c| c == "point").ok_or_else(|| MergeError(format!("{name}: no 'point' column")))?;
        match &header {
            None => header = Some((name.clone(), h.clone())),
            Some((first, h0)) if *h0 != h => {
                return Err(MergeError(format!(
                    "{name}: its columns differ from {first}'s; shards of different sweeps?"
                )))
            }
            _ => {}
        }
        for rec in r.records() {
            let rec = rec.map_err(|e| MergeError(format!("{name}: {e}")))?;
            let p: usize = rec
                .get(col)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| MergeError(format!("{name}: bad point index in row {:?}", rec.position())))?;
            if let Some(other) = seen.insert(p, i) {
                if other != i {
                    return Err(MergeError(format!("point {p} is in both {} and {name}", inputs[other].0)));
                }
            }
            rows.push((p, rec));
        }
    }
    let (_, h) = header.ok_or_else(|| MergeError("nothing to merge".into()))?;
    rows.sort_by_key(|(p, _)| *p);
    check_contiguous(&rows, &seen, inputs)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| MergeError(e.to_string());
    w.write_record(&h).map_err(io)?;
    for (_, rec) in &rows {
        w.write_record(rec).map_err(io)?;
    }
    let bytes = w.into_inner().map_err(|e| MergeError(e.to_string()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Shards are contiguous blocks of points and every point has a row (a failed one its
/// error row), so the merged points must be exactly `0..n`: a gap is a missing shard.
fn check_contiguous(
    rows: &[(usize, csv::StringRecord)],
    seen: &std::collections::HashMap<usize, usize>,
    inputs: &[(String, String)],
) -> Result<(), MergeError> {
    let mut expected = 0usize;
    let mut previous: Option<usize> = None;
    for &(p, _) in rows {
        if Some(p) == previous {
            continue;
        }
        if p != expected {
            let after = previous.map_or("the start".to_string(), |q| format!("point {q} of {}", inputs[seen[&q]].0));
            return Err(MergeError(format!(
                "points {expected}..={} are missing (between {after} and point {p} of {}): a shard was not given",
                p - 1,
                inputs[seen[&p]].0
            )));
        }
        previous = Some(p);
        expected = p + 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_restores_point_order_and_rejects_mismatches() {
        let a = ("a".to_string(), "point,x\n2,c\n3,d\n".to_string());
        let b = ("b".to_string(), "point,x\n0,a\n0,a2\n1,b\n".to_string());
        assert_eq!(merge_csv(&[a.clone(), b.clone()]).unwrap(), "point,x\n0,a\n0,a2\n1,b\n2,c\n3,d\n");
        let c = ("c".to_string(), "point,y\n4,e\n".to_string());
        assert!(merge_csv(&[a.clone(), c]).unwrap_err().0.contains("differ"));
        assert!(merge_csv(&[a.clone(), a]).unwrap_err().0.contains("in both"));
    }

    #[test]
    fn a_missing_shard_is_an_error_naming_the_gap() {
        let s0 = ("s0.csv".to_string(), "point,x\n0,a\n1,b\n".to_string());
        let s2 = ("s2.csv".to_string(), "point,x\n4,e\n5,f\n".to_string());
        let e = merge_csv(&[s0, s2.clone()]).expect_err("gap").0;
        assert!(e.contains("points 2..=3 are missing") && e.contains("s2.csv"), "{e}");
        let e = merge_csv(&[s2]).expect_err("no start").0;
        assert!(e.contains("points 0..=3 are missing"), "{e}");
    }
}
