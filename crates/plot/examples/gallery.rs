//! Writes one of each chart to a folder (PNG and SVG), to look at them: `cargo run -p medpath-plot --example
//! gallery -- OUT_DIR`.

use medpath_plot::{Figure, LineChart, PathMark, Series, confusion_heatmap, path_grid};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "gallery".into()));
    std::fs::create_dir_all(&out)?;
    let best: Vec<(f64, f64)> = (0..60)
        .map(|t| (t as f64, 1.0 - 0.6 * (-(t as f64) / 15.0).exp()))
        .collect();
    let mean: Vec<(f64, f64)> = best.iter().map(|&(t, f)| (t, f - 0.1)).collect();
    LineChart {
        title: "population fitness".into(),
        x_label: "tournament".into(),
        y_label: "validation accuracy".into(),
        series: vec![
            Series {
                name: "best".into(),
                points: best,
            },
            Series {
                name: "mean".into(),
                points: mean,
            },
        ],
        y_range: None,
    }
    .save(&out.join("chart.png"))?;
    let classes: Vec<String> = ["APC", "LBBB", "RBBB"].map(String::from).to_vec();
    confusion_heatmap(
        "ecg test",
        &classes,
        &[vec![180, 12, 8], vec![3, 700, 2], vec![5, 1, 990]],
    )
    .save(&out.join("confusion.png"))?;
    let tasks = [
        PathMark {
            task: "ecg".into(),
            path: vec![vec![1, 4, 7], vec![0, 2], vec![9]],
        },
        PathMark {
            task: "xray".into(),
            path: vec![vec![4, 5], vec![3], vec![9, 8]],
        },
    ];
    let mut frozen = vec![vec![false; 10]; 3];
    frozen[0][1] = true;
    frozen[0][4] = true;
    path_grid(3, 10, &tasks, &frozen).save(&out.join("paths.png"))?;
    Ok(())
}
