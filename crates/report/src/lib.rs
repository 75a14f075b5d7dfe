//! The HTML report of a run folder: one self-contained file (charts embedded as inline SVG,
//! pictures as PNG data), built from what the run wrote (`metrics.json`, `experiment.json`
//! and the figures), never from the run's internals, so `medpath report RUN_DIR` gives the
//! same page as the run did.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use medpath_runkit::{FileError, read_json, write_atomic};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The folder holds no finished run.
    #[error("{dir}: no metrics.json: not a finished medpath run folder (run `medpath run` or `medpath demo` first)", dir = dir.display())]
    NotARun {
        /// The folder.
        dir: PathBuf,
    },
    /// A file of the run folder.
    #[error(transparent)]
    File(#[from] FileError),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ReportError>;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn number(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "n/a".into(), |x| format!("{x:.4}"))
}

fn interval(v: &Value) -> String {
    match v.as_array() {
        Some(a) if a.len() == 2 => format!("[{}, {}]", number(&a[0]), number(&a[1])),
        _ => "n/a".into(),
    }
}

/// One row of a metrics table.
fn metrics_row(label: &str, m: &Value) -> String {
    format!(
        "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        escape(label),
        m["n"],
        number(&m["accuracy"]),
        interval(&m["accuracy_ci95"]),
        number(&m["recall_macro"]),
        interval(&m["recall_macro_ci95"]),
        number(&m["precision_macro"]),
        number(&m["specificity_macro"]),
        number(&m["f1_macro"]),
        number(&m["auroc_macro"]),
    )
}

const METRICS_HEAD: &str = "<tr><th></th><th>n</th><th>accuracy [95 % CI]</th><th>macro recall [95 % CI]</th><th>macro precision</th><th>macro specificity</th><th>macro F1</th><th>macro AUROC</th></tr>\n";

fn per_class_table(m: &Value) -> String {
    let mut html = String::from(
        "<table><tr><th>class</th><th>n</th><th>recall</th><th>precision</th><th>specificity</th><th>F1</th></tr>\n",
    );
    if let Some(classes) = m["per_class"].as_object() {
        for (name, c) in classes {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(name),
                c["n"],
                number(&c["recall"]),
                number(&c["precision"]),
                number(&c["specificity"]),
                number(&c["f1"])
            );
        }
    }
    html.push_str("</table>\n");
    html
}

/// Calibration and operating point of a task, in words.
fn decision_notes(task: &Value) -> String {
    let mut html = String::new();
    let c = &task["calibration"];
    if !c.is_null() {
        let _ = writeln!(
            html,
            "<p>Calibration: temperature {} fitted on validation (NLL {} before, {} after); expected calibration error on test ({} bins) {} before, {} after.</p>",
            number(&c["temperature"]),
            number(&c["val_nll"]["before"]),
            number(&c["val_nll"]["after"]),
            c["test_ece"]["bins"],
            number(&c["test_ece"]["before"]),
            number(&c["test_ece"]["after"])
        );
    }
    let op = &task["operating_point"];
    if !op.is_null() {
        let _ = writeln!(
            html,
            "<p>Operating point ({}): {} when its calibrated probability is at least {}, chosen on validation (sensitivity {}, specificity {}); on test sensitivity {}, specificity {}.</p>",
            escape(&op["target"].to_string()),
            escape(op["positive"].as_str().unwrap_or("")),
            number(&op["threshold"]),
            number(&op["val"][0]),
            number(&op["val"][1]),
            number(&op["test"][0]),
            number(&op["test"][1])
        );
    }
    html
}

/// The per-record table of a cross-validated task.
fn kfold_table(task: &Value) -> String {
    let kfold = &task["record_kfold"];
    let Some(records) = kfold["records"].as_array() else {
        return String::new();
    };
    let classes: Vec<String> = task["classes"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut html = format!(
        "<p>Record k-fold: {} folds; every record below was tested by a model that never saw it.</p>\n<table><tr><th>record</th><th>fold</th>",
        kfold["folds"]
    );
    for c in &classes {
        let _ = write!(html, "<th>{} beats</th>", escape(c));
    }
    for c in &classes {
        let _ = write!(html, "<th>{} recall</th>", escape(c));
    }
    html.push_str("<th>accuracy</th></tr>\n");
    for row in records {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td>",
            escape(row["record"].as_str().unwrap_or("")),
            row["fold"]
        );
        for c in &classes {
            let _ = write!(html, "<td>{}</td>", row["beats"][c]);
        }
        for c in &classes {
            let r = &row["recall"][c];
            let _ = write!(
                html,
                "<td>{}</td>",
                if r.is_null() { "".into() } else { number(r) }
            );
        }
        let _ = writeln!(html, "<td>{}</td></tr>", number(&row["accuracy"]));
    }
    html.push_str("</table>\n");
    html
}

/// The rejection of inputs that belong to no task: threshold, what it keeps and what it lets
/// through, per generated kind.
fn novelty_section(novelty: &Value) -> String {
    if novelty.is_null() {
        return "<h3>Unknown inputs</h3>\n<p>Novelty rejection is off for this run.</p>\n".into();
    }
    let share = |v: &Value| {
        v.as_f64()
            .map_or("n/a".to_string(), |x| format!("{:.1} %", 100.0 * x))
    };
    let mut html = format!(
        "<h3>Unknown inputs</h3>\n<p>Mahalanobis distance of the pooled encoder features to the nearest task (each task its own Gaussian, its covariance blended with the one shared by all tasks; distances in units of the distance that keeps the stated share of the task's own validation inputs), threshold {} (set on validation). Kept: {} of validation inputs, {} of test inputs. Accepted (false accepts): {} of {} generated pictures of no task; AUROC {} ({} inputs against the generated set).</p>\n<table>\n<tr><th>generated kind</th><th>accepted</th></tr>\n",
        number(&novelty["threshold"]),
        share(&novelty["val_kept"]),
        share(&novelty["test_kept"]),
        share(&novelty["ood_false_accept"]),
        novelty["ood"],
        number(&novelty["auroc"]),
        novelty["auroc_inputs"].as_str().unwrap_or("test"),
    );
    if let Some(kinds) = novelty["accepted_by_kind"].as_object() {
        for (kind, counts) in kinds {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{} of {}</td></tr>",
                escape(kind),
                counts[0],
                counts[1]
            );
        }
    }
    html.push_str("</table>\n");
    html
}

/// Embeds figure `relative` (a PNG) of `dir`: its SVG twin inline when the run wrote one (crisp,
/// selectable text), else the PNG as data; or records it as missing.
fn figure(dir: &Path, relative: &str, caption: &str, missing: &mut Vec<PathBuf>) -> String {
    let path = dir.join(relative);
    let caption = escape(caption);
    let svg = std::fs::read_to_string(path.with_extension("svg"))
        .ok()
        .and_then(|text| text.find("<svg").map(|start| text[start..].to_string()));
    if let Some(svg) = svg {
        let labelled = svg.replacen(
            "<svg",
            &format!("<svg role=\"img\" aria-label=\"{caption}\""),
            1,
        );
        return format!("<figure>{labelled}<figcaption>{caption}</figcaption></figure>\n");
    }
    match std::fs::read(&path) {
        Ok(bytes) => format!(
            "<figure><img alt=\"{caption}\" src=\"data:image/png;base64,{}\"><figcaption>{caption}</figcaption></figure>\n",
            base64::engine::general_purpose::STANDARD.encode(bytes),
        ),
        Err(_) => {
            missing.push(path);
            format!(
                "<p class=\"missing\">figure missing: {}</p>\n",
                escape(relative)
            )
        }
    }
}

/// The page's head and title.
fn page_head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\n\
         body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}\n\
         table{{border-collapse:collapse;margin:0.5em 0 1.5em}} td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\n\
         td:first-child,th:first-child{{text-align:left}} figure{{display:inline-block;margin:0.5em;vertical-align:top}} figure svg{{max-width:100%;height:auto;display:block}} figure img{{max-width:100%;display:block}}\n\
         pre{{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}} .missing{{color:#b00}} .note{{color:#555}}\n\
         </style></head><body>\n<h1>{}</h1>\n",
        escape(title),
        escape(title)
    )
}

/// The encoder, in one line.
fn encoder_line(encoder: &Value) -> String {
    let weights = encoder["weights_file"].as_str().map_or_else(
        || {
            format!(
                "RANDOM weights (seed {}): features carry no ImageNet knowledge",
                encoder["random_seed"]
            )
        },
        |w| {
            format!(
                "{w} (hash {})",
                encoder["weights_hash"].as_str().unwrap_or("?")
            )
        },
    );
    format!(
        "<p>Encoder: VGG-16 convolutional base, frozen; weights {}; preprocessing {}; fit {}.</p>\n",
        escape(&weights),
        escape(&encoder["normalization"].to_string()),
        escape(&encoder["fit"].to_string())
    )
}

/// The table of a task's answers and its ablations.
fn task_table(task: &Value) -> String {
    let mut html = String::from("<table>\n");
    html.push_str(METRICS_HEAD);
    let answer = task["answer"].as_str().unwrap_or("path");
    if answer != "path" {
        html.push_str(&metrics_row(
            &format!("the task's answers ({answer})"),
            &task["test"],
        ));
    }
    html.push_str(&metrics_row("evolved path", &task["evolved_path"]));
    for (key, label) in [
        (
            "linear_readout",
            "ablation: linear readout (no path network)",
        ),
        ("random_path", "ablation: random fixed path (no search)"),
        (
            "boosted_trees",
            "ablation: boosted trees on pooled features (no path network)",
        ),
    ] {
        if !task["ablations"][key].is_null() {
            html.push_str(&metrics_row(label, &task["ablations"][key]));
        }
    }
    html.push_str("</table>\n");
    let unit = task["test"]["bootstrap_unit"]
        .as_str()
        .unwrap_or("examples");
    let covered = task["test"]["macro_classes"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let _ = writeln!(
        html,
        "<p class=\"note\">Intervals: 95 % percentile bootstrap over {}; macro averages over the classes with test examples ({}).</p>",
        if unit == "groups" {
            "whole records or patients (the unit errors come in)"
        } else {
            "examples"
        },
        escape(&covered)
    );
    html
}

/// The AAMI view of an ECG task's answers (N = N+L+R, S = A, V = V), as the inter-patient
/// literature reports it.
fn aami_table(task: &Value) -> String {
    let view = &task["aami"];
    let Some(classes) = view["classes"].as_array() else {
        return String::new();
    };
    let mut html = format!(
        "<p>AAMI view ({}): accuracy {} over {} beats.</p>\n<table><tr><th>AAMI class</th><th>beats</th><th>sensitivity</th><th>positive predictivity</th></tr>\n",
        escape(
            &view["mapping"]
                .as_array()
                .map(|m| m
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        ),
        number(&view["accuracy"]),
        view["n"]
    );
    for c in classes {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(c["class"].as_str().unwrap_or("")),
            c["n"],
            number(&c["sensitivity"]),
            number(&c["positive_predictivity"])
        );
    }
    html.push_str("</table>\n");
    html
}

/// One task's section: protocol, tables, figures.
fn task_section(dir: &Path, name: &str, task: &Value, missing: &mut Vec<PathBuf>) -> String {
    let mut html = format!(
        "<h3>Task {}</h3>\n<p>Protocol: {}</p>\n<p>Examples: {}</p>\n",
        escape(name),
        escape(task["protocol"].as_str().unwrap_or("")),
        escape(task["examples"].as_str().unwrap_or(""))
    );
    html.push_str(&task_table(task));
    html.push_str(&aami_table(task));
    html.push_str(&decision_notes(task));
    html.push_str(&kfold_table(task));
    let _ = writeln!(
        html,
        "<p>Evolved path {}; random path {}. Search: {} tournaments, best validation fitness {}, {} steps/s. Training: {} epochs, best epoch {}.</p>",
        task["path"],
        task["random_path"],
        task["search"]["tournaments"],
        number(&task["search"]["best_fitness"]),
        task["search"]["steps_per_second"]
            .as_f64()
            .map_or("n/a".into(), |v| format!("{v:.0}")),
        task["training"]["epochs"],
        task["training"]["best_epoch"]
    );
    html.push_str(&per_class_table(&task["test"]));
    html.push_str(&task_figures(dir, name, missing));
    html
}

/// A task's figures (the optional ones only where the run drew them).
fn task_figures(dir: &Path, name: &str, missing: &mut Vec<PathBuf>) -> String {
    let mut html = String::new();
    for (file, caption, required) in [
        (
            "fitness.png",
            "population fitness per tournament (best and mean)",
            true,
        ),
        ("loss.png", "loss per epoch", true),
        ("accuracy.png", "accuracy per epoch", true),
        ("confusion.png", "test confusion matrix", true),
        (
            "samples.png",
            "test inputs: right (green) and wrong (red)",
            true,
        ),
        ("reliability.png", "reliability diagram on test", false),
        ("roc.png", "ROC curve on test", false),
        (
            "heatmaps.png",
            "where the model looked: occlusion maps of right and wrong answers (covering the red to yellow regions lowers the answered class's probability most)",
            false,
        ),
    ] {
        if required || dir.join("tasks").join(name).join(file).exists() {
            html.push_str(&figure(
                dir,
                &format!("tasks/{name}/{file}"),
                &format!("{name}: {caption}"),
                missing,
            ));
        }
    }
    html
}

/// The router's and the joint test's sections.
fn routing_sections(dir: &Path, metrics: &Value, missing: &mut Vec<PathBuf>) -> String {
    let mut html = String::new();
    if metrics["router"].is_null() {
        html.push_str("<h3>Router</h3>\n<p>One task: nothing to route.</p>\n");
    } else {
        html.push_str("<h3>Router</h3>\n<table>\n");
        html.push_str(METRICS_HEAD);
        html.push_str(&metrics_row("router", &metrics["router"]["test"]));
        html.push_str("</table>\n");
        html.push_str(&per_class_table(&metrics["router"]["test"]));
        for (file, caption) in [
            ("fitness.png", "router: population fitness"),
            ("loss.png", "router: loss per epoch"),
            ("confusion.png", "router: test confusion matrix"),
        ] {
            html.push_str(&figure(dir, &format!("router/{file}"), caption, missing));
        }
    }
    let _ = writeln!(
        html,
        "<h3>Joint classification</h3>\n<p>Each test input is routed to a task, then classified on that task's path. Routing accuracy {}.</p>\n<table>",
        number(&metrics["joint"]["routing_accuracy"])
    );
    html.push_str(METRICS_HEAD);
    html.push_str(&metrics_row("joint", &metrics["joint"]["test"]));
    html.push_str("</table>\n");
    html.push_str(&per_class_table(&metrics["joint"]["test"]));
    html.push_str(&figure(
        dir,
        "joint_confusion.png",
        "joint test confusion matrix (rows true, columns predicted)",
        missing,
    ));
    html.push_str(&follow_up_section(&metrics["follow_ups"]));
    html
}

/// Follow-up tasks through the chain `predict` runs: routed, answered the class they follow,
/// then asked.
fn follow_up_section(chains: &Value) -> String {
    let mut html = String::new();
    for c in chains.as_array().into_iter().flatten() {
        let share = |key: &str| format!("{:.1} %", 100.0 * c[key].as_f64().unwrap_or(0.0));
        let _ = writeln!(
            html,
            "<h3>Follow-up: {task}</h3>\n<p>Asked only when <code>{parent}</code> answers {class}. Of its {n} test inputs, {routed} were routed to {parent}, {asked} answered {class} there (so asked), and {right} asked and answered right: what <code>predict</code> gives a user. Its own test accuracy (every input asked): {own}.</p>",
            task = escape(c["task"].as_str().unwrap_or("")),
            parent = escape(c["follows"][0].as_str().unwrap_or("")),
            class = escape(c["follows"][1].as_str().unwrap_or("")),
            n = c["inputs"],
            routed = share("routed"),
            asked = share("asked"),
            right = share("accuracy"),
            own = share("task_accuracy"),
        );
    }
    html
}

/// The transfer measurement's section, when `medpath transfer` has written one: mean test
/// accuracy and AUROC per training size and method, and the figure.
fn transfer_section(dir: &Path, missing: &mut Vec<PathBuf>) -> String {
    let Ok(rows) = read_json::<Value>(&dir.join("transfer/transfer.json")) else {
        return String::new();
    };
    let mut html = String::from(
        "<h2>Transfer</h2>\n<p>The last task learned again from few training images per class, over seeded draws (mean ± standard deviation): an evolved path beside the earlier tasks' frozen modules (<code>reuse</code>), an evolved path in a fresh network, a random fixed path, a linear readout and boosted trees. Steps: gradient steps, path search included, until the validation accuracy (the search's best fitness, then the trained path's) first reached 95 % of its final value.</p>\n<table>\n<tr><th>per class</th><th>images</th><th>method</th><th>seeds</th><th>test accuracy</th><th>AUROC</th><th>steps to 95 %</th></tr>\n",
    );
    let pair = |v: &Value| match (v[0].as_f64(), v[1].as_f64()) {
        (Some(m), Some(sd)) => format!("{m:.4} ± {sd:.4}"),
        _ => "n/a".into(),
    };
    for r in rows.as_array().into_iter().flatten() {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r["per_class"]
                .as_u64()
                .map_or("all".into(), |n| n.to_string()),
            r["train_images"].as_f64().unwrap_or(0.0),
            escape(r["method"].as_str().unwrap_or("")),
            r["seeds"],
            pair(&r["accuracy"]),
            pair(&r["auroc"]),
            r["steps_to_95"]
                .as_f64()
                .map_or("n/a".into(), |s| format!("{s:.0}")),
        );
    }
    html.push_str("</table>\n");
    html.push_str(&figure(
        dir,
        "transfer/transfer.png",
        "test accuracy against training images, mean over seeds",
        missing,
    ));
    html
}

/// Writes `dir/report.html` from the run folder and returns the figures it could not find
/// (none for a complete run).
pub fn write_report(dir: &Path) -> Result<Vec<PathBuf>> {
    let metrics: Value =
        read_json(&dir.join("metrics.json")).map_err(|_| ReportError::NotARun {
            dir: dir.to_path_buf(),
        })?;
    let experiment: Value = read_json(&dir.join("experiment.json"))?;
    let mut missing = Vec::new();
    let title = format!(
        "medpath report: {}",
        metrics["experiment"].as_str().unwrap_or("run")
    );
    let mut html = page_head(&title);
    html.push_str(&encoder_line(&metrics["encoder"]));
    html.push_str("<h2>Results</h2>\n<p class=\"note\">Every number is on the task's test set under the protocol named with it. Ablations had the same number of gradient steps as the evolved path (its search plus its training).</p>\n");
    let empty = serde_json::Map::new();
    for (name, task) in metrics["tasks"].as_object().unwrap_or(&empty) {
        html.push_str(&task_section(dir, name, task, &mut missing));
    }
    html.push_str(&routing_sections(dir, &metrics, &mut missing));
    html.push_str(&novelty_section(&metrics["novelty"]));
    html.push_str(&transfer_section(dir, &mut missing));
    html.push_str("<h2>Paths</h2>\n<p>The super-network's layers and modules; each task's path in its colour, frozen modules with a thick frame.</p>\n");
    html.push_str(&figure(
        dir,
        "paths.png",
        "paths of every task and the router",
        &mut missing,
    ));
    let _ = writeln!(
        html,
        "<p>No forgetting: checked = {} (every earlier task's validation outputs are bit-identical on the final network).</p>",
        metrics["no_forgetting"]["checked"]
    );
    let _ = writeln!(
        html,
        "<h2>Settings</h2>\n<pre>{}</pre>\n</body></html>",
        escape(&serde_json::to_string_pretty(&experiment).unwrap_or_default())
    );
    write_atomic(&dir.join("report.html"), html.as_bytes())?;
    Ok(missing)
}
