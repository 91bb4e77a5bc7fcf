//! The `expertsteer serve` page end to end, as a person uses it: the real
//! server on the real SmolLM2-135M-Instruct, its page (`GET /`) driven in a
//! real headless Chromium by `tests/page/drive_page.py` (Playwright), which
//! types a prompt, sets the strength, clicks Run and waits for both streamed
//! columns. Checks the two answers and that the screenshot shows a page.
//!
//! Needs /usr/bin/chromium and the pinned playwright package
//! (scripts/setup.sh installs both); the test says so when they are missing.

#[path = "../../tests/common/mod.rs"]
mod common;
mod server;

use common::*;
use server::{python, ServerProcess};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Relative to each layer's mean norm. On this random direction 1.0
/// already changes SmolLM2's greedy answer; 2.0 changes it with margin and
/// still reads as words in the screenshot (4.0 turns it to noise). A
/// steering that changes nothing fails the test.
const STRENGTH: f32 = 2.0;

/// A steering file with random directions on layers 5, 12 and 20: what it
/// steers towards does not matter here, only that it changes the answer.
fn steer_file(dir: &Path) -> PathBuf {
    let p = dir.join("demo.steer");
    random_steer_file(&smollm2(), 300, STRENGTH, &p);
    p
}

/// An 8-bit RGB(A) image, decoded from a PNG file.
struct Image {
    width: usize,
    height: usize,
    /// Row-major pixels as 0xRRGGBB (alpha dropped).
    pixels: Vec<u32>,
}

fn read_png(path: &Path) -> Image {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("{} is not a PNG: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("decode the screenshot");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("screenshot colour type {other:?}, expected RGB or RGBA"),
    };
    let (width, height) = (info.width as usize, info.height as usize);
    let pixels = (0..height)
        .flat_map(|y| (0..width).map(move |x| (y, x)))
        .map(|(y, x)| {
            let p = &buf[y * info.line_size + x * channels..];
            (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32
        })
        .collect();
    Image {
        width,
        height,
        pixels,
    }
}

/// (pixels unlike `background`, distinct colours) in columns `x0..x1`.
fn ink(img: &Image, background: u32, x0: usize, x1: usize) -> (usize, usize) {
    let mut n = 0;
    let mut colours = HashSet::new();
    for y in 0..img.height {
        for &p in &img.pixels[y * img.width + x0..y * img.width + x1] {
            n += (p != background) as usize;
            colours.insert(p);
        }
    }
    (n, colours.len())
}

#[test]
fn page_streams_plain_and_steered_answers_side_by_side() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let driver = root.join("tests/page/drive_page.py");
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run scripts/setup.sh"
    );
    let dir = scratch("serve-page");
    let steer = format!("demo={}", steer_file(&dir).display());
    let server = ServerProcess::start("serve-page", &["--steer", &steer, "--parallel", "2"]);

    let shot = dir.join("page.png");
    let strength = STRENGTH.to_string();
    let t0 = Instant::now();
    let (code, stdout, stderr) = python(
        &driver,
        &[
            &server.url("/"),
            shot.to_str().unwrap(),
            "--prompt",
            "Write one sentence about the sea.",
            "--strength",
            &strength,
            "--max-tokens",
            "24",
            "--timeout",
            "180",
        ],
    );
    assert_eq!(
        code,
        Some(0),
        "drive_page.py failed:\n{stderr}\nthe server's stderr:\n{}",
        server.stderr()
    );
    eprintln!("page driven in {:.1} s", t0.elapsed().as_secs_f64());

    let texts: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("drive_page.py printed no JSON ({e}): {stdout:?}"));
    let plain = texts["plain"].as_str().expect("plain text");
    let steered = texts["steered"].as_str().expect("steered text");
    eprintln!("plain:   {plain:?}\nsteered: {steered:?}");
    assert!(!plain.trim().is_empty(), "the unsteered column is empty");
    assert!(!steered.trim().is_empty(), "the steered column is empty");
    assert_ne!(plain, steered, "the steering changed nothing on the page");

    // The screenshot shows a laid-out page: two columns of text side by
    // side, so both halves carry plenty of ink in many colours
    // (anti-aliased text, borders, the slider), not a blank or error page.
    let img = read_png(&shot);
    assert!(
        img.width >= 800 && img.height >= 500,
        "screenshot only {}x{}",
        img.width,
        img.height
    );
    let mut counts = std::collections::HashMap::new();
    for &p in &img.pixels {
        *counts.entry(p).or_insert(0usize) += 1;
    }
    let background = *counts.iter().max_by_key(|(_, &n)| n).unwrap().0;
    let half = img.width / 2;
    for (side, x0, x1) in [("left", 0, half), ("right", half, img.width)] {
        let (n, colours) = ink(&img, background, x0, x1);
        let area = (x1 - x0) * img.height;
        assert!(
            n * 50 > area && colours > 64,
            "{side} half of {} looks empty: {n} of {area} pixels differ \
             from the background, {colours} colours",
            shot.display()
        );
    }
}
