//! `compare`: the side-by-side table of `just bench-compare`. Reads the JSON reports of
//! the same scenarios run against the Cloudflare original and against sync-worker (one
//! directory each, `<scenario>.json`) and prints, per row, both numbers and the factor
//! by which sync-worker is better (above 1) or worse (below 1).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use crate::cli::CompareArgs;
use crate::report::{format_value, Report};

/// Issue 8: push (one socket, one push in flight, B=100) at least 8x the original.
pub const TARGET_PUSH_FACTOR: f64 = 8.0;

/// Whether a bigger number is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
}

/// The rows of the comparison: `(report file stem, metric key, better)`.
const ROWS: &[(&str, &str, Better)] = &[
    ("push", "acked_events_per_sec", Better::Higher),
    ("push", "ack_p50_ms", Better::Lower),
    ("push", "ack_p99_ms", Better::Lower),
    ("fanout", "receive_p50_ms", Better::Lower),
    ("fanout", "receive_p99_ms", Better::Lower),
    ("pull", "events_per_sec", Better::Higher),
    ("pull", "first_chunk_ms", Better::Lower),
    ("clients", "acked_events_per_sec", Better::Higher),
    ("clients", "ack_p50_ms", Better::Lower),
    ("clients", "ack_p99_ms", Better::Lower),
    ("clients", "receive_p50_ms", Better::Lower),
    ("clients", "receive_p99_ms", Better::Lower),
    ("clients", "slowest_store_events_per_sec", Better::Higher),
];

pub fn run(args: &CompareArgs) -> anyhow::Result<String> {
    let text = render(&args.original, &args.ours)?;
    if let Some(out) = &args.out {
        std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(text)
}

fn load(dir: &Path, stem: &str) -> Option<Report> {
    Report::read_json(&dir.join(format!("{stem}.json"))).ok()
}

fn value(report: Option<&Report>, key: &str) -> Option<(f64, String, String)> {
    let m = report?.metrics.iter().find(|m| m.key == key)?;
    Some((m.value?, m.label.clone(), m.unit.clone()))
}

/// sync-worker's advantage: > 1 is better than the original.
fn factor(better: Better, original: f64, ours: f64) -> Option<f64> {
    let f = match better {
        Better::Higher => ours / original,
        Better::Lower => original / ours,
    };
    f.is_finite().then_some(f)
}

fn render(original_dir: &Path, ours_dir: &Path) -> anyhow::Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "| scenario | parameters | metric | original (sync-cf 0.3.1) | sync-worker | sync-worker vs original | target |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    for &(stem, key, better) in ROWS {
        let original = load(original_dir, stem);
        let ours = load(ours_dir, stem);
        let params = ours
            .as_ref()
            .or(original.as_ref())
            .map(short_params)
            .unwrap_or_default();
        let o = value(original.as_ref(), key);
        let s = value(ours.as_ref(), key);
        let (label, unit) = s
            .as_ref()
            .or(o.as_ref())
            .map(|(_, l, u)| (l.clone(), u.clone()))
            .unwrap_or_else(|| (key.to_owned(), String::new()));
        let f = match (&o, &s) {
            (Some((o, ..)), Some((s, ..))) => factor(better, *o, *s),
            _ => None,
        };
        let ratio = f.map_or("n/a".to_owned(), |f| {
            format!(
                "{f:.2}x {}",
                match better {
                    Better::Higher => "(higher is better)",
                    Better::Lower => "(lower is better)",
                }
            )
        });
        let target = if stem == "push" && key == "acked_events_per_sec" {
            match f {
                Some(f) if f >= TARGET_PUSH_FACTOR => format!(">= {TARGET_PUSH_FACTOR}x: met"),
                Some(_) => format!(">= {TARGET_PUSH_FACTOR}x: MISSED"),
                None => format!(">= {TARGET_PUSH_FACTOR}x: n/a"),
            }
        } else {
            String::new()
        };
        let show = |v: &Option<(f64, String, String)>| match v {
            Some((v, ..)) => format!("{} {unit}", format_value(Some(*v))),
            None => "n/a".to_owned(),
        };
        writeln!(
            out,
            "| {stem} | {params} | {label} | {} | {} | {ratio} | {target} |",
            show(&o),
            show(&s)
        )?;
    }
    Ok(out)
}

fn short_params(r: &Report) -> String {
    r.params
        .iter()
        .filter(|p| !matches!(p.name.as_str(), "store" | "server_pid" | "client_nofile"))
        .map(|p| format!("{}={}", p.name, p.value))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_favour_sync_worker_above_one() {
        assert_eq!(factor(Better::Higher, 100.0, 800.0), Some(8.0));
        assert_eq!(factor(Better::Lower, 40.0, 1.0), Some(40.0));
        assert_eq!(factor(Better::Higher, 0.0, 1.0), None);
    }

    #[test]
    fn renders_both_sides_and_the_push_target() {
        let dir = std::env::temp_dir().join(format!("sync-bench-cmp-{}", uuid::Uuid::new_v4()));
        let (a, b) = (dir.join("original"), dir.join("ours"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        for (d, rate) in [(&a, 6_000.0), (&b, 60_000.0)] {
            let mut r = Report::new("push", "ws://x", "jwt");
            r.param("batch", 100).metric(
                "acked_events_per_sec",
                "acked events/s",
                Some(rate),
                "events/s",
            );
            r.write_json(&d.join("push.json")).unwrap();
        }
        let md = render(&a, &b).unwrap();
        assert!(
            md.contains("| push | batch=100 | acked events/s | 6,000 events/s | 60,000 events/s | 10.00x (higher is better) | >= 8x: met |"),
            "{md}"
        );
        assert!(
            md.contains("| pull |  | events_per_sec | n/a | n/a | n/a |"),
            "{md}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
