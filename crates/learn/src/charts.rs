//! The figures and logs of a task's learning: search log and population curve, loss and
//! accuracy per epoch, reliability diagram and ROC curve.

use std::path::Path as FilePath;

use medpath_evolve::TournamentRecord;
use medpath_pathnet::EpochRecord;
use medpath_plot::{Figure, LineChart, Series};
use medpath_readout::{CalibrationReport, Decision};
use medpath_runkit::write_atomic;

use crate::error::Result;
use crate::plan::TaskPlan;

/// Writes the search log as CSV and the population curve as PNG.
pub(crate) fn write_search_log(dir: &FilePath, log: &[TournamentRecord], task: &str) -> Result<()> {
    let mut csv =
        String::from("tournament,candidate_a,candidate_b,fitness_a,fitness_b,winner,best,mean\n");
    for r in log {
        csv.push_str(&format!(
            "{},{},{},{:.6},{:.6},{},{:.6},{:.6}\n",
            r.tournament,
            r.candidates[0],
            r.candidates[1],
            r.fitness[0],
            r.fitness[1],
            r.winner,
            r.best,
            r.mean
        ));
    }
    write_atomic(&dir.join("search_log.csv"), csv.as_bytes())?;
    let points = |f: fn(&TournamentRecord) -> f64| {
        log.iter()
            .map(|r| ((r.tournament + 1) as f64, f(r)))
            .collect()
    };
    let fitness = vec![
        Series {
            name: "best".into(),
            points: points(|r| r.best),
        },
        Series {
            name: "mean".into(),
            points: points(|r| r.mean),
        },
    ];
    save_chart(
        &dir.join("fitness.png"),
        format!("{task}: population fitness"),
        "tournament",
        "fitness (validation accuracy)",
        fitness,
        None,
    )
}

/// Writes the per-epoch log as CSV and loss / accuracy curves as PNG.
pub(crate) fn write_fit_log(dir: &FilePath, log: &[EpochRecord], task: &str) -> Result<()> {
    let mut csv = String::from("epoch,steps,train_loss,train_accuracy,val_loss,val_accuracy\n");
    for r in log {
        csv.push_str(&format!(
            "{},{},{:.6},{:.6},{:.6},{:.6}\n",
            r.epoch, r.steps, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy
        ));
    }
    write_atomic(&dir.join("train_log.csv"), csv.as_bytes())?;
    let series = |name: &str, f: fn(&EpochRecord) -> f64| Series {
        name: name.into(),
        points: log.iter().map(|r| (r.epoch as f64, f(r))).collect(),
    };
    let losses = vec![
        series("train", |r| r.train_loss),
        series("validation", |r| r.val_loss),
    ];
    save_chart(
        &dir.join("loss.png"),
        format!("{task}: loss per epoch"),
        "epoch",
        "cross-entropy",
        losses,
        None,
    )?;
    let accuracies = vec![
        series("train", |r| r.train_accuracy),
        series("validation", |r| r.val_accuracy),
    ];
    save_chart(
        &dir.join("accuracy.png"),
        format!("{task}: accuracy per epoch"),
        "epoch",
        "accuracy",
        accuracies,
        None,
    )
}

/// Draws the reliability diagram (test, before and after temperature scaling) and, for a
/// two-class task, the ROC curve of the positive (else the second) class on test.
pub(crate) fn write_calibration_figures(
    dir: &FilePath,
    plan: &TaskPlan<'_>,
    decision: &Decision,
    (probs, truth): (&[f32], &[usize]),
    report: &CalibrationReport,
) -> Result<()> {
    let bins = |table: &[medpath_metrics::ReliabilityBin]| -> Vec<(f64, f64)> {
        table
            .iter()
            .filter(|b| b.count > 0)
            .map(|b| (b.confidence, b.accuracy))
            .collect()
    };
    let reliability = vec![
        Series {
            name: "ideal".into(),
            points: vec![(0.0, 0.0), (1.0, 1.0)],
        },
        Series {
            name: format!("raw (ECE {:.3})", report.test_ece[0]),
            points: bins(&report.test_bins_before),
        },
        Series {
            name: format!(
                "T = {:.2} (ECE {:.3})",
                report.temperature, report.test_ece[1]
            ),
            points: bins(&report.test_bins_after),
        },
    ];
    save_chart(
        &dir.join("reliability.png"),
        format!("{}: reliability on test", plan.name),
        "confidence (top probability)",
        "accuracy",
        reliability,
        Some((0.0, 1.0)),
    )?;
    let k = plan.classes.len();
    if k == 2 {
        let positive = decision.positive.unwrap_or(1);
        let scores: Vec<f32> = decision
            .calibrated(probs, k)
            .chunks_exact(k)
            .map(|r| r[positive])
            .collect();
        let is_positive: Vec<bool> = truth.iter().map(|&y| y == positive).collect();
        let curve = medpath_metrics::roc_curve(&scores, &is_positive);
        let mut series = vec![Series {
            name: format!("{} (test)", plan.classes[positive]),
            points: curve.iter().map(|p| (p.fpr, p.tpr)).collect(),
        }];
        if let Some(t) = decision.threshold {
            let (sens, spec) = medpath_metrics::rates_at(&scores, &is_positive, t);
            series.push(Series {
                name: format!("operating point (threshold {t:.3})"),
                points: vec![(1.0 - spec, sens), (1.0 - spec, sens)],
            });
        }
        save_chart(
            &dir.join("roc.png"),
            format!("{}: ROC on test", plan.name),
            "false-positive rate",
            "sensitivity",
            series,
            Some((0.0, 1.0)),
        )?;
    }
    Ok(())
}

/// Draws `series` as a line chart into `path` (PNG, with its SVG beside it), over `y_range`
/// when given, else over the data.
fn save_chart(
    path: &FilePath,
    title: String,
    x_label: &str,
    y_label: &str,
    series: Vec<Series>,
    y_range: Option<(f64, f64)>,
) -> Result<()> {
    LineChart {
        title,
        x_label: x_label.into(),
        y_label: y_label.into(),
        series,
        y_range,
    }
    .save(path)?;
    Ok(())
}
