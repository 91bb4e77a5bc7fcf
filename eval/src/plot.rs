//! The accuracy plot of an evaluation (validation accuracy against
//! strength), drawn from its records. Behind the `plot` feature.

use super::report::{cell, outcomes};
use super::run::Record;
use super::score::Scoring;
use expertsteer::{Error, Result};
use plotters::prelude::*;
use std::collections::BTreeSet;
use std::path::Path;

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Input(format!("drawing the accuracy plot: {e}"))
}

/// Validation accuracy against strength, one line per method, for one
/// task and scoring (the unsteered accuracy is the line's point at 0).
/// The PNG is written atomically.
pub fn accuracy_plot(records: &[Record], task: &str, scoring: Scoring, path: &Path) -> Result<()> {
    expertsteer::atomic_file::write_atomic_via(path, |tmp| {
        draw_accuracy(records, task, scoring, tmp)
    })
}

fn draw_accuracy(records: &[Record], task: &str, scoring: Scoring, path: &Path) -> Result<()> {
    expertsteer::plot::ensure_font();
    let o = outcomes(records);
    let none = o
        .get(&(
            task.to_string(),
            scoring,
            "none".into(),
            0f32.to_bits(),
            "validation".into(),
        ))
        .map(|v| cell(v).acc);
    let methods: BTreeSet<String> = o
        .keys()
        .filter(|k| {
            k.0 == task && k.1 == scoring && k.2 != "none" && k.2 != "expert" && k.4 == "validation"
        })
        .map(|k| k.2.clone())
        .collect();
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut max_c: f64 = 0.0;
    let mut max_acc: f64 = none.unwrap_or(0.0);
    for m in &methods {
        let mut pts: Vec<(f64, f64)> = none.map(|a| vec![(0.0, a)]).unwrap_or_default();
        for (k, v) in o
            .iter()
            .filter(|(k, _)| k.0 == task && k.1 == scoring && &k.2 == m && k.4 == "validation")
        {
            let c = f32::from_bits(k.3) as f64;
            max_c = max_c.max(c);
            let acc = cell(v).acc;
            max_acc = max_acc.max(acc);
            pts.push((c, acc));
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        series.push((m.clone(), pts));
    }
    let root = BitMapBackend::new(path, (760, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .caption(
            format!("{task} ({scoring:?} scoring): validation accuracy vs strength"),
            ("sans-serif", 16),
        )
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..max_c.max(0.01) * 1.05, 0.0..(max_acc + 0.15).min(1.0))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("strength c (relative to the layer's mean norm)")
        .y_desc("accuracy")
        .draw()
        .map_err(plot_err)?;
    for (i, (m, pts)) in series.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
            .map_err(plot_err)?
            .label(m.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, colour.filled())))
            .map_err(plot_err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)?;
    Ok(())
}
