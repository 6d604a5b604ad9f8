//! `summarize`: merges JSON reports and criterion estimates into one markdown document
//! (the table `bench/run.sh` writes to `bench-results/summary.md`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::cli::SummarizeArgs;
use crate::report::{bound_symbol, format_value, verdict, Bound, Report};

/// Issue 5: access-token verification at most 5 µs.
pub const TARGET_TOKEN_VERIFY_NS: f64 = 5_000.0;

pub fn run(args: &SummarizeArgs) -> anyhow::Result<String> {
    let reports = args
        .reports
        .iter()
        .map(|p| Report::read_json(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let benches = match &args.criterion_dir {
        Some(dir) => criterion_estimates(dir)?,
        None => Vec::new(),
    };
    let text = render(&reports, &benches);
    if let Some(out) = &args.out {
        std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(text)
}

/// One criterion benchmark's mean time per iteration.
#[derive(Debug, Clone)]
pub struct BenchEstimate {
    pub id: String,
    pub mean_ns: f64,
    pub ci_low_ns: f64,
    pub ci_high_ns: f64,
}

#[derive(Deserialize)]
struct Estimates {
    mean: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
    confidence_interval: Interval,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

/// Finds every `<id>/new/estimates.json` under a criterion output directory.
pub fn criterion_estimates(dir: &Path) -> anyhow::Result<Vec<BenchEstimate>> {
    let mut found = Vec::new();
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() || path.file_name().is_some_and(|n| n == "report") {
                continue;
            }
            let estimates = path.join("new").join("estimates.json");
            if estimates.is_file() {
                let text = std::fs::read_to_string(&estimates)?;
                let e: Estimates = serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", estimates.display()))?;
                let id = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                found.push(BenchEstimate {
                    id,
                    mean_ns: e.mean.point_estimate,
                    ci_low_ns: e.mean.confidence_interval.lower_bound,
                    ci_high_ns: e.mean.confidence_interval.upper_bound,
                });
            } else {
                stack.push(path);
            }
        }
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

fn render(reports: &[Report], benches: &[BenchEstimate]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scenario | parameters | metric | measured | target | result |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for r in reports {
        let params = short_params(r);
        for t in &r.targets {
            let (label, unit) = r
                .metrics
                .iter()
                .find(|m| m.key == t.metric)
                .map(|m| (m.label.as_str(), m.unit.as_str()))
                .unwrap_or((t.metric.as_str(), ""));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} {} | {} {} | {} |",
                r.scenario,
                params,
                label,
                format_value(t.measured),
                unit,
                bound_symbol(t.bound),
                format_value(Some(t.threshold)),
                verdict(t.met)
            );
        }
    }
    for b in benches
        .iter()
        .filter(|b| b.id.ends_with("verify_access_token"))
    {
        let met = b.mean_ns <= TARGET_TOKEN_VERIFY_NS;
        let _ = writeln!(
            out,
            "| criterion | {} | mean time | {:.2} µs | {} 5 µs | {} |",
            b.id,
            b.mean_ns / 1e3,
            bound_symbol(Bound::AtMost),
            verdict(Some(met))
        );
    }
    if !benches.is_empty() {
        let _ = writeln!(
            out,
            "\n### Micro-benchmarks (criterion, mean per iteration)\n"
        );
        let _ = writeln!(out, "| benchmark | mean | 95% interval |");
        let _ = writeln!(out, "|---|---|---|");
        for b in benches {
            let _ = writeln!(
                out,
                "| {} | {} | {} – {} |",
                b.id,
                human_ns(b.mean_ns),
                human_ns(b.ci_low_ns),
                human_ns(b.ci_high_ns)
            );
        }
    }
    for r in reports {
        let _ = writeln!(out, "\n### {} ({})\n", r.scenario, short_params(r));
        let _ = writeln!(out, "| metric | value |");
        let _ = writeln!(out, "|---|---|");
        for m in &r.metrics {
            let _ = writeln!(
                out,
                "| {} | {} {} |",
                m.label,
                format_value(m.value),
                m.unit
            );
        }
        for n in &r.notes {
            let _ = writeln!(out, "\nNote: {n}");
        }
    }
    out
}

/// Parameters worth showing in a table cell (store ids and pids are left out).
fn short_params(r: &Report) -> String {
    r.params
        .iter()
        .filter(|p| !matches!(p.name.as_str(), "store" | "server_pid" | "client_nofile"))
        .map(|p| format!("{}={}", p.name, p.value))
        .collect::<Vec<_>>()
        .join(" ")
}

fn human_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_targets_and_criterion() {
        let mut r = Report::new("push", "ws://x", "jwt");
        r.param("batch", 100)
            .param("store", "s")
            .metric("rate", "acked events/s", Some(150_000.0), "events/s")
            .target("rate", Bound::AtLeast, 100_000.0);
        let benches = vec![BenchEstimate {
            id: "token/verify_access_token".into(),
            mean_ns: 2500.0,
            ci_low_ns: 2400.0,
            ci_high_ns: 2600.0,
        }];
        let md = render(&[r], &benches);
        assert!(
            md.contains(
                "| push | batch=100 | acked events/s | 150,000 events/s | >= 100,000 | met |"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "| criterion | token/verify_access_token | mean time | 2.50 µs | <= 5 µs | met |"
            ),
            "{md}"
        );
    }

    #[test]
    fn finds_criterion_estimates() {
        let dir = tempdir();
        let bench = dir.join("group").join("bench").join("new");
        std::fs::create_dir_all(&bench).unwrap();
        std::fs::write(
            bench.join("estimates.json"),
            r#"{"mean":{"point_estimate":12.5,"confidence_interval":{"lower_bound":12.0,"upper_bound":13.0,"confidence_level":0.95},"standard_error":0.1}}"#,
        )
        .unwrap();
        let found = criterion_estimates(&dir).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, "group/bench");
        assert_eq!(found[0].mean_ns, 12.5);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sync-bench-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
