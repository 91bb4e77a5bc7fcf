//! PNG pictures: the MI heat-map of a model pair (pipeline step 2).
//!
//! Text needs a TrueType font; DejaVu Sans (Debian's `fonts-dejavu-core`)
//! is used when installed, otherwise the picture is drawn without labels.

use crate::steering::steerfile::MiMatrix;
use crate::{Error, Result};
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
];

/// Registers a system font once; false when none is found.
pub fn ensure_font() -> bool {
    font_ready()
}

fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        for p in FONT_PATHS {
            if let Ok(bytes) = std::fs::read(p) {
                let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, leaked).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// A perceptually ordered colour for t in [0, 1] (dark blue → yellow).
fn colour(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let stops = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let x = t * (stops.len() - 1) as f64;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let lerp = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    let (a, b) = (stops[i], stops[i + 1]);
    RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Input(format!("drawing the heat-map: {e}"))
}

/// Draws `mi` (rows: expert layers, columns: target layers) with the
/// chosen (expert layer, target layer) pairs outlined, as a PNG at `path`
/// (written atomically).
pub fn mi_heatmap_png(
    mi: &MiMatrix,
    chosen: &[(usize, usize)],
    title: &str,
    path: &Path,
) -> Result<()> {
    crate::atomic_file::write_atomic_via(path, |tmp| draw_mi_heatmap(mi, chosen, title, tmp))
}

fn draw_mi_heatmap(
    mi: &MiMatrix,
    chosen: &[(usize, usize)],
    title: &str,
    path: &Path,
) -> Result<()> {
    let (rows, cols) = (mi.expert_layers.len(), mi.target_layers.len());
    if rows == 0 || cols == 0 || mi.values.len() != rows * cols {
        return Err(Error::Input("MI matrix is empty or mis-shaped".into()));
    }
    let with_text = font_ready();
    let cell = 22u32;
    let (w, h) = (
        (cols as u32 * cell + 160).max(360),
        rows as u32 * cell + 150,
    );
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let (lo, hi) = mi
        .values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let (plot_area, legend_area) = root.split_vertically(h - 26);
    let mut builder = ChartBuilder::on(&plot_area);
    builder.margin(10);
    if with_text {
        builder
            .caption(title, ("sans-serif", 16))
            .x_label_area_size(40)
            .y_label_area_size(50);
    }
    let mut chart = builder
        .build_cartesian_2d(0..cols as i32, 0..rows as i32)
        .map_err(plot_err)?;
    if with_text {
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("target layer")
            .y_desc("expert layer")
            .x_labels(cols.min(16))
            .y_labels(rows.min(16))
            .x_label_formatter(&|x| {
                mi.target_layers
                    .get(*x as usize)
                    .map_or(String::new(), |l| l.to_string())
            })
            .y_label_formatter(&|y| {
                mi.expert_layers
                    .get(*y as usize)
                    .map_or(String::new(), |l| l.to_string())
            })
            .draw()
            .map_err(plot_err)?;
    }
    chart
        .draw_series((0..rows).flat_map(|r| {
            (0..cols).map(move |c| {
                let v = mi.values[r * cols + c];
                Rectangle::new(
                    [(c as i32, r as i32), (c as i32 + 1, r as i32 + 1)],
                    colour((v - lo) / span).filled(),
                )
            })
        }))
        .map_err(plot_err)?;
    let marks: Vec<(usize, usize)> = chosen
        .iter()
        .filter_map(|(e, t)| {
            let r = mi.expert_layers.iter().position(|l| l == e)?;
            let c = mi.target_layers.iter().position(|l| l == t)?;
            Some((r, c))
        })
        .collect();
    chart
        .draw_series(marks.iter().map(|&(r, c)| {
            Rectangle::new(
                [(c as i32, r as i32), (c as i32 + 1, r as i32 + 1)],
                ShapeStyle::from(&RED).stroke_width(3),
            )
        }))
        .map_err(plot_err)?;
    if with_text {
        let legend = format!("MI {lo:.2} .. {hi:.2} nats; red: chosen pairs");
        legend_area
            .draw(&Text::new(legend, (10, 6), ("sans-serif", 13)))
            .map_err(plot_err)?;
    }
    root.present().map_err(plot_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heatmap_writes_a_png_with_the_matrix_colours() {
        let mi = MiMatrix {
            expert_layers: vec![1, 2, 3],
            target_layers: vec![1, 2, 3, 4],
            values: (0..12).map(|v| v as f64 / 4.0).collect(),
        };
        let dir = std::env::temp_dir().join(format!("plot-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("mi.png");
        mi_heatmap_png(&mi, &[(2, 3)], "test", &p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(bytes.len() > 500);
        let bad = MiMatrix {
            values: vec![1.0],
            ..mi
        };
        assert!(mi_heatmap_png(&bad, &[], "t", &p).is_err());
    }
}
