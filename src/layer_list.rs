//! Layer lists as people type them (`all`, `steerable`, `1,4,8-10`), for
//! capture, steering and fit. Layers are 0-based blocks (`l_out-N`).
//!
//! Every number and range end is checked against the block count *before*
//! a range is expanded: `0-99999999999` is an error, not an attempt to
//! allocate 800 GB.

use crate::{Error, Result};

pub use expertsteer_core::steering::MAX_LAYERS;

/// Parses `spec` for a model of `n_layer` blocks: `all` (0..n_layer),
/// `steerable` (1..n_layer: block 0 cannot be held by llama.cpp's control
/// vector), or numbers and inclusive ranges such as `1,4,8-10`. The result
/// is sorted, without duplicates, non-empty, and every layer is below
/// `n_layer`.
pub fn parse_layers(spec: &str, n_layer: usize) -> Result<Vec<usize>> {
    match spec.trim() {
        "all" => non_empty((0..n_layer).collect(), spec),
        "steerable" => non_empty((1..n_layer).collect(), spec),
        _ => parse_numbers(spec, n_layer, &|| {
            format!("the model has blocks 0..{}", n_layer.saturating_sub(1))
        }),
    }
}

/// Parses explicit layer numbers and ranges (`6,12,18`, `4-9`) before a
/// model is loaded, checked only against [`MAX_LAYERS`]; the caller checks
/// them against the model once it is known. `all` and `steerable` are
/// refused here: they need the model's block count.
pub fn parse_layer_numbers(spec: &str) -> Result<Vec<usize>> {
    if matches!(spec.trim(), "all" | "steerable") {
        return Err(Error::Input(format!(
            "'{}' needs the model's block count here; give layer numbers such as 6,12,18",
            spec.trim()
        )));
    }
    parse_numbers(spec, MAX_LAYERS, &|| {
        format!("no model llama.cpp loads has more than {MAX_LAYERS} blocks")
    })
}

/// The shared parser: `limit` is one past the largest allowed layer,
/// `why` says where the limit comes from.
fn parse_numbers(spec: &str, limit: usize, why: &dyn Fn() -> String) -> Result<Vec<usize>> {
    let num = |s: &str| {
        s.trim().parse::<usize>().map_err(|_| {
            Error::Input(format!(
                "'{}' in layer list '{}' is not a layer number",
                s.trim(),
                spec.trim()
            ))
        })
    };
    let out_of_range = |what: String| Error::Input(format!("{what} is out of range: {}", why()));
    let mut v = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(Error::Input(format!("layer range {part} is reversed")));
                }
                if b >= limit {
                    return Err(out_of_range(format!("layer range {part}")));
                }
                v.extend(a..=b);
            }
            None => {
                let l = num(part)?;
                if l >= limit {
                    return Err(out_of_range(format!("layer {l}")));
                }
                v.push(l);
            }
        }
    }
    v.sort_unstable();
    v.dedup();
    non_empty(v, spec)
}

fn non_empty(v: Vec<usize>, spec: &str) -> Result<Vec<usize>> {
    if v.is_empty() {
        return Err(Error::Input(format!(
            "layer list '{}' names no layer",
            spec.trim()
        )));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_lists_parse_and_reject_bad_input() {
        assert_eq!(parse_layers("1,4,8-10", 30).unwrap(), vec![1, 4, 8, 9, 10]);
        assert_eq!(parse_layers(" 4, 1,4 ", 30).unwrap(), vec![1, 4]);
        assert_eq!(parse_layers("steerable", 3).unwrap(), vec![1, 2]);
        assert_eq!(parse_layers("all", 2).unwrap(), vec![0, 1]);
        assert!(parse_layers("30", 30).is_err());
        assert!(parse_layers("x", 30).is_err());
        assert!(parse_layers("5-2", 30).is_err());
        assert!(parse_layers("", 30).is_err());
        assert!(parse_layers("steerable", 1).is_err(), "a 1-block model");
    }

    #[test]
    fn huge_ranges_are_refused_before_they_are_expanded() {
        // Expanding first would allocate 800 GB, or overflow the capacity.
        let e = parse_layers("0-99999999999", 30).unwrap_err().to_string();
        assert!(e.contains("0-99999999999") && e.contains("0..29"), "{e}");
        let e = parse_layers("0-18446744073709551615", 30)
            .unwrap_err()
            .to_string();
        assert!(e.contains("out of range"), "{e}");
        let e = parse_layers("0-18446744073709551616", 30)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a layer number"), "{e}");
        let e = parse_layer_numbers("6-99999999999")
            .unwrap_err()
            .to_string();
        assert!(e.contains("512 blocks"), "{e}");
    }

    #[test]
    fn numbers_before_the_model_is_known() {
        assert_eq!(parse_layer_numbers("6,12-13").unwrap(), vec![6, 12, 13]);
        assert!(parse_layer_numbers("all").is_err());
        assert!(parse_layer_numbers("512").is_err());
    }
}
