//! A scenario's result: parameters, measured metrics and the issue-5 targets they are
//! checked against. Printed as a human table and written as JSON.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// One run of one scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub url: String,
    pub auth: String,
    pub started_at: String,
    pub params: Vec<Param>,
    pub metrics: Vec<Metric>,
    pub targets: Vec<TargetCheck>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    pub value: String,
}

/// A measured number. `value` is `None` when it could not be measured (e.g. no server pid).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metric {
    pub key: String,
    pub label: String,
    pub value: Option<f64>,
    pub unit: String,
}

/// Whether a bigger or smaller number is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bound {
    AtLeast,
    AtMost,
}

/// A target from issue 5 and how the run compares.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetCheck {
    pub metric: String,
    pub bound: Bound,
    pub threshold: f64,
    pub measured: Option<f64>,
    /// `None` when the metric was not measured.
    pub met: Option<bool>,
}

impl Report {
    pub fn new(scenario: &str, url: &str, auth: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            url: url.to_owned(),
            auth: auth.to_owned(),
            started_at: chrono::Utc::now().to_rfc3339(),
            params: Vec::new(),
            metrics: Vec::new(),
            targets: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn param(&mut self, name: &str, value: impl ToString) -> &mut Self {
        self.params.push(Param {
            name: name.to_owned(),
            value: value.to_string(),
        });
        self
    }

    pub fn metric(&mut self, key: &str, label: &str, value: Option<f64>, unit: &str) -> &mut Self {
        self.metrics.push(Metric {
            key: key.to_owned(),
            label: label.to_owned(),
            value,
            unit: unit.to_owned(),
        });
        self
    }

    pub fn note(&mut self, text: impl Into<String>) -> &mut Self {
        self.notes.push(text.into());
        self
    }

    /// Checks the metric `key` (already recorded) against a target.
    pub fn target(&mut self, key: &str, bound: Bound, threshold: f64) -> &mut Self {
        let measured = self
            .metrics
            .iter()
            .find(|m| m.key == key)
            .and_then(|m| m.value);
        let met = measured.map(|v| match bound {
            Bound::AtLeast => v >= threshold,
            Bound::AtMost => v <= threshold,
        });
        self.targets.push(TargetCheck {
            metric: key.to_owned(),
            bound,
            threshold,
            measured,
            met,
        });
        self
    }

    fn unit_of(&self, key: &str) -> &str {
        self.metrics
            .iter()
            .find(|m| m.key == key)
            .map(|m| m.unit.as_str())
            .unwrap_or("")
    }

    /// The human-readable table.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "== sync-bench {} ({}, auth: {})",
            self.scenario, self.url, self.auth
        );
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| format!("{}={}", p.name, p.value))
            .collect();
        let _ = writeln!(out, "   {}", params.join("  "));
        let width = self
            .metrics
            .iter()
            .map(|m| m.label.len())
            .max()
            .unwrap_or(0);
        for m in &self.metrics {
            let _ = writeln!(
                out,
                "   {:<width$}  {:>16} {}",
                m.label,
                format_value(m.value),
                m.unit
            );
        }
        for t in &self.targets {
            let _ = writeln!(
                out,
                "   target: {} {} {} {} -> {}",
                t.metric,
                bound_symbol(t.bound),
                format_value(Some(t.threshold)),
                self.unit_of(&t.metric),
                verdict(t.met)
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "   note: {n}");
        }
        out
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }

    pub fn read_json(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

pub fn bound_symbol(bound: Bound) -> &'static str {
    match bound {
        Bound::AtLeast => ">=",
        Bound::AtMost => "<=",
    }
}

pub fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "n/a",
    }
}

/// Numbers with thousands separators; small ones with up to 3 decimals; `n/a` for `None`.
pub fn format_value(value: Option<f64>) -> String {
    let Some(v) = value else {
        return "n/a".to_owned();
    };
    if !v.is_finite() {
        return v.to_string();
    }
    if v.abs() >= 1000.0 {
        let rounded = v.round() as i64;
        let digits = rounded.unsigned_abs().to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if rounded < 0 {
            grouped.insert(0, '-');
        }
        grouped
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_for_humans() {
        assert_eq!(format_value(Some(1234567.4)), "1,234,567");
        assert_eq!(format_value(Some(12.0)), "12");
        assert_eq!(format_value(Some(0.1234)), "0.123");
        assert_eq!(format_value(None), "n/a");
    }

    #[test]
    fn targets_compare_both_ways() {
        let mut r = Report::new("push", "ws://x", "none");
        r.metric("rate", "rate", Some(10.0), "1/s")
            .metric("lat", "lat", Some(10.0), "ms")
            .metric("rss", "rss", None, "KiB")
            .target("rate", Bound::AtLeast, 11.0)
            .target("lat", Bound::AtMost, 10.0)
            .target("rss", Bound::AtMost, 1.0);
        let met: Vec<_> = r.targets.iter().map(|t| t.met).collect();
        assert_eq!(met, vec![Some(false), Some(true), None]);
        assert!(r.to_table().contains("MISSED"));
    }
}
