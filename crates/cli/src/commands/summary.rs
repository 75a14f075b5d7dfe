//! The table printed at the end of `medpath run` and `medpath demo`.

use std::fmt::Write as _;

use medpath_experiment::RunSummary;
use serde_json::Value;

fn cell(m: &Value) -> String {
    let f = |v: &Value| {
        v.as_f64()
            .map_or("  n/a ".into(), |x| format!("{:5.1}", 100.0 * x))
    };
    let ci = &m["accuracy_ci95"];
    format!(
        "{} [{}, {}]  {}",
        f(&m["accuracy"]),
        f(&ci[0]),
        f(&ci[1]),
        f(&m["recall_macro"])
    )
}

/// A plain-text table: per task its answers (its readout), the evolved path and the ablations,
/// then router and joint.
pub fn summary_table(summary: &RunSummary) -> String {
    let m = &summary.metrics;
    let mut out = String::new();
    let head = "acc % [95% CI]  recall %";
    let _ = writeln!(
        out,
        "\n{:<28} {:<26} {:<26} {:<26} {:<26} {:<26}",
        "test set",
        "task's answers",
        "evolved path",
        "linear readout",
        "random path",
        "boosted trees"
    );
    let _ = writeln!(
        out,
        "{:<28} {head:<26} {head:<26} {head:<26} {head:<26} {head:<26}",
        ""
    );
    if let Some(tasks) = m["tasks"].as_object() {
        for (name, t) in tasks {
            let trees = if t["readout"] == "boosted-trees" {
                &t["test"]
            } else {
                &t["ablations"]["boosted_trees"]
            };
            let _ = writeln!(
                out,
                "{:<28} {:<26} {:<26} {:<26} {:<26} {:<26}",
                format!("{name} ({})", t["answer"].as_str().unwrap_or("path")),
                cell(&t["test"]),
                cell(&t["evolved_path"]),
                cell(&t["ablations"]["linear_readout"]),
                cell(&t["ablations"]["random_path"]),
                if trees.is_null() {
                    "-".into()
                } else {
                    cell(trees)
                }
            );
        }
    }
    if !m["router"].is_null() {
        let _ = writeln!(
            out,
            "{:<28} {:<26}",
            "router (which task)",
            cell(&m["router"]["test"])
        );
    }
    let _ = writeln!(
        out,
        "{:<28} {:<26}",
        "joint (route, then classify)",
        cell(&m["joint"]["test"])
    );
    if let Some(tasks) = m["tasks"].as_object() {
        out.push_str("\nprotocols:\n");
        for (name, t) in tasks {
            let _ = writeln!(out, "  {name}: {}", t["protocol"].as_str().unwrap_or(""));
        }
    }
    let _ = writeln!(
        out,
        "\nrun folder {} ({:.0} s): metrics.json, report.html, bundle/ (for `medpath predict --model {}`)",
        summary.dir.display(),
        summary.seconds,
        summary.dir.display()
    );
    out
}
