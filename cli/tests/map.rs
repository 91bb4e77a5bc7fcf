//! `expertsteer map` and `fit --map` on the real SmolLM2, mapped onto
//! itself: the same tokenizer pairs every token, the same layer maps with
//! R² ≈ 1, a shuffled map explains nothing, an interrupted run resumes to
//! the same file, and a direction carried through the map is the target's
//! own. Bad maps are refused before any capture.

#[path = "../../tests/common/mod.rs"]
mod common;

use expertsteer::map::MapFile;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    run_in(args, None)
}

/// Runs with `cache` as the whole cache (EXPERTSTEER_CACHE) when given.
fn run_in(args: &[&str], cache: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_expertsteer"));
    c.args(args).env("EXPERTSTEER_PROGRESS", "json");
    if let Some(dir) = cache {
        c.env("EXPERTSTEER_CACHE", dir);
    }
    c.output().expect("run expertsteer")
}

fn ok(args: &[&str]) -> String {
    ok_in(args, None)
}

fn ok_in(args: &[&str], cache: Option<&Path>) -> String {
    let o = run_in(args, cache);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "expertsteer {args:?} failed:\n{err}");
    format!("{}{err}", String::from_utf8_lossy(&o.stdout))
}

/// Generic texts: plain sentences, none about sentiment.
fn texts(dir: &Path) -> PathBuf {
    let subjects = [
        "The river",
        "A committee",
        "The old library",
        "Our train",
        "The first chapter",
        "A small engine",
    ];
    let verbs = ["crosses", "describes", "holds", "follows", "measures"];
    let objects = [
        "the valley in the north",
        "three kinds of stone",
        "a list of dates and places",
        "the map of the harbour",
    ];
    let mut lines = String::new();
    for (k, s) in subjects.iter().enumerate() {
        for (m, v) in verbs.iter().enumerate() {
            let o = objects[(k + m) % objects.len()];
            let text = format!(
                "{s} {v} {o}, and the notes say why in {} short lines.",
                k * 5 + m + 2
            );
            lines.push_str(&serde_json::json!({ "text": text }).to_string());
            lines.push('\n');
        }
    }
    let p = dir.join("generic.jsonl");
    std::fs::write(&p, lines).unwrap();
    p
}

/// The cosine `compare-directions` gives the one layer of `file` against
/// `reference`.
fn cosine_to(file: &str, reference: &str) -> f64 {
    let cmp = ok(&["compare-directions", file, "--reference", reference]);
    let name = Path::new(file).file_stem().unwrap().to_string_lossy();
    cmp.lines()
        .find(|l| l.starts_with(&format!("| {name} |")))
        .and_then(|l| l.split('|').nth(5))
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or_else(|| panic!("no cosine for {name} in:\n{cmp}"))
}

/// `fit` from `expert` into `target` on `data`, one thread, then `rest`.
fn fit_args<'a>(
    expert: &'a str,
    target: &'a str,
    data: &'a str,
    out: &'a str,
    rest: &[&'a str],
) -> Vec<&'a str> {
    let mut v = vec![
        "fit",
        "--expert",
        expert,
        "--target",
        target,
        "--data",
        data,
        "--out",
        out,
        "--threads",
        "1",
    ];
    v.extend_from_slice(rest);
    v
}

fn map_args<'a>(
    model: &'a str,
    texts: &'a str,
    out: &'a str,
    state: &'a str,
    max: &'a str,
) -> Vec<&'a str> {
    vec![
        "map",
        "--expert",
        model,
        "--target",
        model,
        "--texts",
        texts,
        "--out",
        out,
        "--state",
        state,
        "--max-paired",
        max,
        "--target-layers",
        "10",
        "--window",
        "1",
        "--skip-first",
        "0",
        "--threads",
        "1",
        "--checkpoint-texts",
        "4",
    ]
}

#[test]
fn a_model_mapped_onto_itself() {
    let dir = common::scratch("map-self");
    let model = common::smollm2_path();
    let model = model.to_str().unwrap();
    let texts = texts(&dir);
    let texts = texts.to_str().unwrap();
    let s = |p: &str| dir.join(p).to_str().unwrap().to_string();

    // Uninterrupted to 600 paired positions.
    let (full, full_state) = (s("full.esmap"), s("full-state"));
    let out = ok(&map_args(model, texts, &full, &full_state, "600"));
    let f = MapFile::read(Path::new(&full)).unwrap();
    // Same tokenizer: every token is paired but BOS (if the model adds one).
    let used = (f.corpus.texts - f.corpus.skipped) as u64;
    let unpaired = f.corpus.target_tokens - f.corpus.paired;
    assert!(unpaired == 0 || unpaired == used, "{:?}", f.corpus);
    assert!(
        f.corpus.paired >= 600 && f.corpus.fold_rows[1] > 0,
        "{:?}",
        f.corpus
    );
    assert_eq!(f.target_layers(), vec![10]);
    let pairs: Vec<usize> = f.pairs.iter().map(|p| p.expert_layer).collect();
    assert_eq!(pairs, vec![9, 10, 11]);
    // Layer 10 onto itself: near-perfect, and the best by R².
    let same = f.pair(10, 10).unwrap();
    // (600 rows for 576 dimensions: the ridge cannot be exact.)
    assert!(same.r2 > 0.95, "R² {}", same.r2);
    assert_eq!(f.best_by_r2(10).unwrap().expert_layer, 10);
    assert!(f.pair(9, 10).unwrap().r2 < same.r2);
    assert!(out.contains("← best"), "{out}");

    // The default leaves out each text's first 4 positions (BOS included),
    // and writes the pair's map into the cache when no --out is given.
    let cache = dir.join("cache");
    let mut args = map_args(model, texts, "", &full_state, "300");
    let n = args.len();
    args.truncate(n - 6); // drop --skip-first 0, --threads 1 and the checkpoint interval
    args.retain(|a| !a.is_empty() && *a != "--out");
    args.extend(["--threads", "1"]);
    let msg = ok_in(&args, Some(&cache));
    let name = Path::new(model).file_stem().unwrap().to_string_lossy();
    let skip = cache.join(format!("maps/{name}--{name}.esmap"));
    assert!(msg.contains(&format!("wrote {}", skip.display())), "{msg}");
    let skip = skip.to_str().unwrap().to_string();
    let k = MapFile::read(Path::new(&skip)).unwrap().corpus;
    let used4 = (k.texts - k.skipped) as u64;
    assert_eq!(k.target_tokens - k.paired, 4 * used4, "{k:?}");

    // Interrupted at 300, then resumed to 600: the same file.
    let (part, part_state) = (s("part.esmap"), s("part-state"));
    ok(&map_args(model, texts, &part, &part_state, "300"));
    let first = MapFile::read(Path::new(&part)).unwrap();
    assert!(first.corpus.paired < f.corpus.paired);
    let again = ok(&map_args(model, texts, &part, &part_state, "600"));
    assert!(again.contains("resuming at text"), "{again}");
    assert_eq!(std::fs::read(&part).unwrap(), std::fs::read(&full).unwrap());

    // The shuffled control explains nothing.
    let shuf = s("shuffled.esmap");
    let mut args = map_args(model, texts, &shuf, &full_state, "600");
    args.push("--shuffled");
    let msg = ok(&args);
    assert!(
        msg.contains("other models, texts or layers"),
        "must not reuse the real run's checkpoint: {msg}"
    );
    let sh = MapFile::read(Path::new(&shuf)).unwrap();
    assert!(sh.shuffled);
    assert!(
        sh.pairs.iter().all(|p| p.r2 < 0.2),
        "{:?}",
        sh.pairs.iter().map(|p| p.r2).collect::<Vec<_>>()
    );

    // `show` reads a map.
    let shown = ok(&["show", &full]);
    assert!(
        shown.contains("held-out R²") && shown.contains("← best"),
        "{shown}"
    );

    // fit --map: the expert's mean difference carried through the map is
    // the target's own CAA direction at that layer.
    let data = common::repo_root().join("data/concepts/sentiment.jsonl");
    let data = data.to_str().unwrap();
    let (es, caa) = (s("es.steer"), s("caa.steer"));
    let fit_out = ok(&fit_args(
        model,
        model,
        data,
        &es,
        &["--map", &full, "--expert-direction", "mean-diff"],
    ));
    assert!(!fit_out.contains("arbitrary basis"), "{fit_out}");
    ok(&[
        "fit",
        "--method",
        "caa",
        "--target",
        model,
        "--data",
        data,
        "--target-layers",
        "10",
        "--out",
        &caa,
        "--threads",
        "1",
    ]);
    let cos = cosine_to(&es, &caa);
    assert!(cos > 0.95, "cosine {cos}");
    let shown = ok(&["show", &es]);
    assert!(shown.contains("map R² (held out)"), "{shown}");

    // With the pair's map in the cache, fit uses it unless told otherwise:
    // the same file as naming that map with --map.
    let direction = ["--expert-direction", "mean-diff"];
    let (auto, named) = (s("auto.steer"), s("named.steer"));
    let said = ok_in(
        &fit_args(model, model, data, &auto, &direction),
        Some(&cache),
    );
    assert!(
        said.contains("step 1 through this pair's token-level map"),
        "{said}"
    );
    assert!(!said.contains("arbitrary basis"), "{said}");
    let mut with_map = direction.to_vec();
    with_map.extend(["--map", &skip]);
    ok(&fit_args(model, model, data, &named, &with_map));
    assert!(cosine_to(&auto, &named) > 0.9999);
    // (--align over a cached map: tests/cli_fit_out.rs, on fixtures.)
    // A shuffled control never becomes the pair's map.
    let mut args = map_args(model, texts, "", &full_state, "300");
    args.retain(|a| !a.is_empty() && *a != "--out");
    args.push("--shuffled");
    let e = run_in(&args, Some(&cache));
    assert!(String::from_utf8_lossy(&e.stderr).contains("give --out"));

    // The shuffled map is refused for steering; r2 needs a map; a map for
    // other models is refused before any capture.
    let e = run(&fit_args(model, model, data, &es, &["--map", &shuf]));
    assert!(String::from_utf8_lossy(&e.stderr).contains("shuffled control"));
    // ...but serves as a control when asked: its direction is not the target's.
    let ctl = s("control.steer");
    ok(&fit_args(
        model,
        model,
        data,
        &ctl,
        &[
            "--map",
            &shuf,
            "--allow-shuffled",
            "--expert-direction",
            "mean-diff",
        ],
    ));
    let ctl_cos = cosine_to(&ctl, &caa);
    assert!(
        ctl_cos.abs() < 0.5,
        "shuffled map carried the direction: {ctl_cos}"
    );
    let e = run(&fit_args(model, model, data, &es, &["--pair-by", "r2"]));
    assert!(String::from_utf8_lossy(&e.stderr).contains("give --map"));
    let other = common::fixture(64, 4);
    let e = run(&fit_args(
        other.to_str().unwrap(),
        model,
        data,
        &es,
        &["--map", &full],
    ));
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(
        !e.status.success() && err.contains("as the expert"),
        "{err}"
    );
    assert!(!err.contains("capture"), "checked after capturing: {err}");
    // A damaged map is refused with the reason.
    let mut bytes = std::fs::read(&full).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    let bad = s("bad.esmap");
    std::fs::write(&bad, bytes).unwrap();
    let e = run(&["show", &bad]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("checksum"));
    std::fs::remove_dir_all(&dir).ok();
}

/// Little-endian f32s of a dump file.
fn dumped(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn the_row_dump_holds_the_paired_states_and_resumes_to_the_same_rows() {
    let dir = common::scratch("map-dump");
    let model = common::smollm2_path();
    let model = model.to_str().unwrap();
    let texts = texts(&dir);
    let texts = texts.to_str().unwrap();
    let s = |p: &str| dir.join(p).to_str().unwrap().to_string();
    let with_dump = |out: &str, state: &str, max: &str, dump: &str| {
        let mut a = map_args(model, texts, out, state, max);
        a.extend(["--dump-rows", dump]);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let call = |a: &[String]| ok(&a.iter().map(String::as_str).collect::<Vec<_>>());

    let (full, fdump) = (s("full.esmap"), s("full-rows"));
    let said = call(&with_dump(&full, &s("full-state"), "400", &fdump));
    assert!(said.contains("the row dump takes"), "{said}");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("full-rows/rows.json")).unwrap()).unwrap();
    let rows = meta["rows"].as_u64().unwrap() as usize;
    let map = MapFile::read(Path::new(&full)).unwrap();
    assert_eq!(rows as u64, map.corpus.paired);
    assert_eq!(meta["expert_layers"], serde_json::json!([9, 10, 11]));
    // The same model on both sides: expert layer 10's rows are target
    // layer 10's, row for row; layer 9's are not.
    let (e10, t10) = (
        dumped(&dir.join("full-rows/expert.L10.f32")),
        dumped(&dir.join("full-rows/target.L10.f32")),
    );
    assert_eq!(t10.len(), rows * 576);
    let diff = e10
        .iter()
        .zip(&t10)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-4, "max difference {diff}");
    let e9 = dumped(&dir.join("full-rows/expert.L9.f32"));
    assert!(e9.iter().zip(&t10).any(|(a, b)| (a - b).abs() > 0.1));
    // Text indices ascend within each fold; every fifth text is held out.
    let text: Vec<u32> = std::fs::read(dir.join("full-rows/text.u32"))
        .unwrap()
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(text.len(), rows);
    let held = text.iter().filter(|&&t| t % 5 == 4).count() as u64;
    assert_eq!(held, map.corpus.fold_rows[1]);

    // Stopped at 200, with rows written after its checkpoint (as a killed
    // run leaves them), then resumed to 400: the same dump.
    let (part, pstate, pdump) = (s("part.esmap"), s("part-state"), s("part-rows"));
    call(&with_dump(&part, &pstate, "200", &pdump));
    let tail = dir.join("part-rows/target.L10.f32");
    let mut extra = std::fs::read(&tail).unwrap();
    extra.extend_from_slice(&[7u8; 576 * 4 * 3]);
    std::fs::write(&tail, extra).unwrap();
    call(&with_dump(&part, &pstate, "400", &pdump));
    for f in [
        "expert.L9.f32",
        "expert.L11.f32",
        "target.L10.f32",
        "text.u32",
    ] {
        assert_eq!(
            std::fs::read(dir.join("part-rows").join(f)).unwrap(),
            std::fs::read(dir.join("full-rows").join(f)).unwrap(),
            "{f}"
        );
    }
    // A dump of another run (here: other layers) is refused before any
    // capture.
    let mut a = with_dump(&part, &pstate, "400", &fdump);
    let at = a.iter().position(|x| x == "10").unwrap();
    a[at] = "12".into();
    let e = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(!e.status.success() && err.contains("another run"), "{err}");
    assert!(!err.contains("paired positions"), "captured first: {err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_map_corpus_is_prose_with_options_then_code() {
    let dir = common::scratch("map-corpus");
    let code = dir.join("src");
    std::fs::create_dir_all(code.join("tests")).unwrap();
    std::fs::write(code.join("a.py"), "def double(x):\n    return 2 * x\n").unwrap();
    std::fs::write(code.join("tests/t.py"), "assert False\n").unwrap();
    let out = dir.join("corpus.jsonl");
    ok(&[
        "data",
        "build",
        "--source",
        "generic",
        "--map-corpus",
        "--sample",
        "0",
        "--code",
        code.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let texts = expertsteer_eval::data::read_texts(&out).unwrap();
    assert!(texts.len() > 1000, "{} texts", texts.len());
    assert!(
        texts[0].starts_with("Question: ") && texts[0].contains("\nA. "),
        "{}",
        texts[0]
    );
    // The one code piece comes second (interleaved), the test file never.
    assert_eq!(texts[1], "def double(x):\n    return 2 * x\n");
    assert!(texts.iter().all(|t| !t.contains("assert False")));
    // The corpus options without --map-corpus are refused, not ignored.
    let said = "--code, --sample, --sample-tokens, --prose-only and --target go with --map-corpus";
    for given in [
        &["--code", "x"][..],
        &["--sample", "4"],
        &["--sample-tokens", "24"],
        &["--prose-only"],
    ] {
        let mut args = vec![
            "data",
            "build",
            "--source",
            "generic",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(given);
        let e = run(&args);
        assert!(!e.status.success(), "{given:?}");
        assert!(
            String::from_utf8_lossy(&e.stderr).contains(said),
            "{given:?}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The sampled prose of a cache: seed → text, in file order.
fn sampled_store(cache: &Path) -> Vec<(u64, String)> {
    let dir = cache.join("corpus");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "one store per target and token limit");
    std::fs::read_to_string(files[0].path())
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["seed"].as_u64().unwrap(),
                v["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_default_corpus_mixes_prose_sampled_from_the_target_and_resumes_it() {
    let dir = common::scratch("map-sampled");
    // A cache of its own for the samples, sharing the real one's models and
    // MMLU download.
    let cache = dir.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let real = expertsteer::cache::cache_root();
    for sub in ["models", "data"] {
        if real.join(sub).exists() {
            std::os::unix::fs::symlink(real.join(sub), cache.join(sub)).unwrap();
        }
    }
    let code = dir.join("src");
    std::fs::create_dir_all(&code).unwrap();
    std::fs::write(code.join("a.py"), "def double(x):\n    return 2 * x\n").unwrap();
    let model = common::smollm2_path();
    // `data build --map-corpus` of n sampled texts of 24 tokens, plus `extra`.
    let run_build = |n: &str, out: &Path, extra: &[&str]| {
        let mut args = vec![
            "data",
            "build",
            "--source",
            "generic",
            "--map-corpus",
            "--target",
            model.to_str().unwrap(),
            "--sample",
            n,
            "--sample-tokens",
            "24",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run_in(&args, Some(&cache))
    };
    let read_built = |o: Output, out: &Path| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        expertsteer_eval::data::read_texts(out).unwrap()
    };
    let build = |n: &str, out: &Path| {
        read_built(run_build(n, out, &["--code", code.to_str().unwrap()]), out)
    };
    let first = build("3", &dir.join("c3.jsonl"));
    let store = sampled_store(&cache);
    assert_eq!(store.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(
        store.iter().all(|(_, t)| !t.is_empty() && t.len() < 400),
        "{store:?}"
    );
    assert_ne!(
        store[0].1, store[1].1,
        "each text has its own seed and request"
    );
    // Sampled prose comes first (half the bytes), then code and MMLU.
    assert_eq!(first[0], store[0].1);
    let at = |t: &str| first.iter().position(|x| x == t).unwrap();
    assert!(
        store.iter().all(|(_, t)| at(t) < 12),
        "sampled prose spread late"
    );
    assert!(at("def double(x):\n    return 2 * x\n") < 6);
    assert!(first.iter().filter(|t| t.starts_with("Question: ")).count() > 1000);

    // One more text resumes the store: the first three are kept, not redrawn.
    build("4", &dir.join("c4.jsonl"));
    let grown = sampled_store(&cache);
    assert_eq!(grown.len(), 4);
    assert_eq!(grown[..3], store[..]);

    // --prose-only: the sampled prose alone, in seed order, no code or MMLU.
    let prose = dir.join("prose.jsonl");
    let want: Vec<String> = grown
        .iter()
        .map(|(_, t)| t.clone())
        .filter(|t| !t.is_empty())
        .collect();
    let got = read_built(run_build("4", &prose, &["--prose-only"]), &prose);
    assert_eq!(got, want);
    let o = run_build("0", &prose, &["--prose-only"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--prose-only needs --sample above 0"));
    let o = run_build(
        "4",
        &prose,
        &["--prose-only", "--code", code.to_str().unwrap()],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot be used with"));

    // The same settings draw the same texts again.
    std::fs::remove_dir_all(cache.join("corpus")).unwrap();
    let again = build("3", &dir.join("c3b.jsonl"));
    assert_eq!(again, first);

    // --texts is the whole corpus: the default's settings do not go with it.
    let texts = dir.join("c3.jsonl");
    let e = run(&[
        "map",
        "--expert",
        model.to_str().unwrap(),
        "--target",
        model.to_str().unwrap(),
        "--texts",
        texts.to_str().unwrap(),
        "--sample",
        "5",
    ]);
    assert!(!e.status.success());
    assert!(String::from_utf8_lossy(&e.stderr).contains("cannot be used with"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn token_ends_spell_every_kind_of_text() {
    let model = common::smollm2();
    for text in [
        "Plain words, then more words.",
        "  leading spaces and\ttabs\n\nand blank lines",
        "def f(x):\n    return x ** 2  # a comment",
        "Unicode: café, naïve, 東京, emoji 🙂 and ∑ symbols",
        "a",
    ] {
        let t = expertsteer::map::positions::tokenize_with_ends(&model, text)
            .unwrap()
            .unwrap_or_else(|| panic!("pieces do not spell {text:?}"));
        let ends: Vec<usize> = t.ends.iter().flatten().copied().collect();
        assert!(ends.windows(2).all(|w| w[0] < w[1]), "{text:?}: {ends:?}");
        assert_eq!(ends.last().copied(), Some(text.len()), "{text:?}");
        // Same tokenizer on both sides: every token with text pairs with itself.
        let pairs = expertsteer::map::positions::paired_positions(&t.ends, &t.ends);
        assert_eq!(pairs.len(), ends.len());
        assert!(pairs.iter().all(|(a, b)| a == b));
    }
}
