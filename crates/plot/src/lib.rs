//! Figures for medpath, drawn with plotters: line charts, confusion heat maps, path grids and
//! image sheets. Every figure is drawn once by generic code and comes out as SVG (crisp,
//! selectable text, embedded in the report) and as PNG (text in DejaVu Sans, embedded, so the
//! same pictures come out on every machine).

pub mod chart;
pub mod figure;
pub mod figures;

pub use chart::{LineChart, Series};
pub use figure::{Figure, PlotError, Raster, Rgb, mix};
pub use figures::{
    CaptionedImage, ConfusionHeatmap, ImageSheet, PathGrid, PathMark, TextPage, Tile,
    confusion_heatmap, image_sheet, path_grid,
};

#[cfg(test)]
mod tests {
    use super::*;
    use figure::PALETTE;

    fn chart() -> LineChart {
        LineChart {
            title: "fitness".into(),
            x_label: "tournament".into(),
            y_label: "accuracy".into(),
            series: vec![
                Series {
                    name: "best".into(),
                    points: vec![(0.0, 0.3), (5.0, 0.8), (9.0, 0.9)],
                },
                Series {
                    name: "operating point".into(),
                    points: vec![(4.0, 0.5), (4.0, 0.5)],
                },
            ],
            y_range: Some((0.0, 1.0)),
        }
    }

    /// Every SVG is well-formed XML whose text elements hold `words`.
    fn assert_svg_with_text(svg: &str, words: &[&str]) {
        let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let texts: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .collect();
        for word in words {
            assert!(
                texts.iter().any(|t| t.contains(word)),
                "{word} among {texts:?}"
            );
        }
    }

    fn count(raster: &Raster, rgb: Rgb) -> usize {
        raster.pixels.iter().filter(|p| **p == rgb).count()
    }

    #[test]
    fn a_chart_is_svg_with_selectable_text_and_a_png_with_lines_dots_and_text() {
        let chart = chart();
        assert_svg_with_text(
            &chart.to_svg().unwrap(),
            &[
                "fitness",
                "tournament",
                "accuracy",
                "best",
                "operating point",
                "0.5",
            ],
        );
        let raster = chart.to_raster().unwrap();
        assert_eq!((raster.width, raster.height), (520, 330));
        assert!(count(&raster, PALETTE[0]) > 200, "the line is drawn");
        assert!(count(&raster, PALETTE[1]) > 40, "the single point is a dot");
        let title_band: usize = raster.pixels[..36 * 520]
            .iter()
            .filter(|p| p[0] < 120)
            .count();
        assert!(title_band > 50, "the title is drawn in the embedded font");
        let decoded = png::Decoder::new(std::io::Cursor::new(raster.to_png().unwrap()))
            .read_info()
            .unwrap()
            .info()
            .width;
        assert_eq!(decoded, 520);
    }

    #[test]
    fn the_legend_goes_where_the_lines_are_not() {
        let mut rising = chart();
        rising.series.truncate(1);
        let ((x0, x1), (y0, y1)) = ((0.0, 9.0), (0.0, 1.0));
        assert!(matches!(
            rising.legend_corner((x0, x1), (y0, y1)),
            plotters::chart::SeriesLabelPosition::LowerRight
        ));
        rising.series[0].points = vec![(0.0, 0.9), (9.0, 0.1)];
        assert!(matches!(
            rising.legend_corner((x0, x1), (y0, y1)),
            plotters::chart::SeriesLabelPosition::UpperRight
        ));
    }

    #[test]
    fn a_confusion_matrix_shows_counts_and_shares_with_dark_full_rows() {
        let classes: Vec<String> = vec!["APC".into(), "LBBB".into()];
        let heat = confusion_heatmap("ecg test", &classes, &[vec![9, 1], vec![0, 10]]);
        assert_svg_with_text(
            &heat.to_svg().unwrap(),
            &["ecg test", "APC", "LBBB", "90%", "100%", "predicted"],
        );
        let raster = heat.to_raster().unwrap();
        assert!(
            count(&raster, [8, 48, 107]) > 1000,
            "a dark cell for a full row"
        );
    }

    #[test]
    fn a_path_grid_fills_each_tasks_modules_in_its_colour() {
        let grid = path_grid(
            3,
            10,
            &[PathMark {
                task: "ecg".into(),
                path: vec![vec![1], vec![2, 3], vec![9]],
            }],
            &vec![vec![false; 10]; 3],
        );
        assert_svg_with_text(
            &grid.to_svg().unwrap(),
            &["L1 conv", "L3 fc", "ecg", "frozen"],
        );
        let raster = grid.to_raster().unwrap();
        assert!(
            count(&raster, PALETTE[0]) > 4 * 30 * 30,
            "four modules filled"
        );
    }

    #[test]
    fn sheets_and_pages_are_pictures_with_captions() {
        let tile = Tile {
            caption: "A>A".into(),
            image: Raster::from_fn(16, 16, |x, _| [x as u8 * 16, 0, 0]),
            correct: true,
        };
        let sheet = image_sheet("samples", &[tile.clone(), tile], 2, 64);
        assert!(!sheet.has_vector_form());
        let raster = sheet.to_raster().unwrap();
        assert!(
            count(&raster, [0, 130, 60]) > 100,
            "green frames and captions"
        );
        assert!(
            count(&raster, [240, 0, 0]) >= 2 * 4 * 64,
            "the images, scaled"
        );
        let page = TextPage {
            side: 96,
            lines: vec!["PATIENT REPORT".into(); 6],
            text_size: 11,
        };
        let inked = page
            .to_raster()
            .unwrap()
            .pixels
            .iter()
            .filter(|p| p[0] < 128)
            .count();
        assert!(inked > 300, "{inked} dark pixels of text");
    }

    #[test]
    fn save_writes_the_png_and_the_svg_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("chart.png");
        chart().save(&png).unwrap();
        assert!(png.exists() && dir.path().join("chart.svg").exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no partial files left"
        );
    }
}
