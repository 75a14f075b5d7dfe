//! PNG figures for medpath: a small raster canvas with 8x8 bitmap text (no font files, so the
//! same pictures come out on every machine), line charts, confusion heat maps, path grids and
//! image sheets.

pub mod canvas;
pub mod chart;
pub mod figures;

pub use canvas::{Canvas, PlotError};
pub use chart::{LineChart, Series};
pub use figures::{PathMark, Tile, confusion_heatmap, image_sheet, path_grid};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let t = chart::ticks(0.0, 1.0, 5);
        let expected = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
        assert_eq!(t.len(), expected.len());
        assert!(
            t.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-12),
            "{t:?}"
        );
        assert_eq!(chart::ticks(3.0, 97.0, 4), vec![25.0, 50.0, 75.0]);
    }

    #[test]
    fn tick_labels_have_the_decimals_their_spacing_needs() {
        assert_eq!(chart::label(0.985, 0.005), "0.985");
        assert_eq!(chart::label(0.4, 0.2), "0.4");
        assert_eq!(chart::label(20.0, 10.0), "20");
        assert_eq!(chart::label(2.5, 2.5), "2.5");
    }

    #[test]
    fn figures_render_to_decodable_png_with_ink_where_expected() {
        let chart = LineChart {
            title: "fitness".into(),
            x_label: "tournament".into(),
            y_label: "accuracy".into(),
            series: vec![
                Series {
                    name: "best".into(),
                    points: vec![(0.0, 0.3), (5.0, 0.8), (9.0, 0.9)],
                },
                Series {
                    name: "mean".into(),
                    points: vec![(0.0, 0.2), (9.0, 0.7)],
                },
            ],
            y_range: Some((0.0, 1.0)),
        };
        let canvas = chart.render(640, 400);
        let series_color = canvas::PALETTE[0];
        assert!(
            canvas.pixels.contains(&series_color),
            "the first series is drawn"
        );
        let png = canvas.to_png();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (640, 400));

        let classes: Vec<String> = vec!["A".into(), "L".into()];
        let heat = confusion_heatmap("ecg", &classes, &[vec![9, 1], vec![0, 10]]);
        assert!(
            heat.pixels.iter().any(|p| p[2] > 100 && p[0] < 20),
            "a dark cell for a full row"
        );
        let grid = path_grid(
            3,
            10,
            &[PathMark {
                task: "ecg".into(),
                path: vec![vec![1], vec![2, 3], vec![9]],
            }],
            &vec![vec![false; 10]; 3],
        );
        assert!(grid.pixels.contains(&canvas::PALETTE[0]));
    }
}
