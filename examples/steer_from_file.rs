//! Load a model, read a `.steer` file, steer at a strength and generate,
//! next to the unsteered text.
//!
//! ```text
//! cargo run --release --example steer_from_file -- MODEL FILE.steer [STRENGTH] [PROMPT]
//! ```
//!
//! MODEL is a registry name (`smollm2-135m-instruct`) or a GGUF path.
//! STRENGTH is c in s_j = c · r_j, relative to each steered layer's mean
//! hidden-state norm (default: the file's).

use expertsteer::{
    apply, generate, models, prompt_tokens, Context, ContextParams, GenerateParams, Model,
    ModelParams, Positions, SteerFile,
};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_arg, steer_arg, rest @ ..] = args.as_slice() else {
        return Err("usage: steer_from_file MODEL FILE.steer [STRENGTH] [PROMPT]".into());
    };
    let strength: Option<f32> = rest.first().map(|s| s.parse()).transpose()?;
    let prompt = rest
        .get(1)
        .map_or("Tell me about your weekend.", String::as_str);

    let model = Model::load(models::resolve(model_arg)?, &ModelParams::default())?;
    let file = SteerFile::read(Path::new(steer_arg))?;
    model.check_steer_file(&file)?;
    let mut ctx = Context::new(&model, ContextParams::default())?;
    let tokens = prompt_tokens(&model, prompt, true)?;
    let params = GenerateParams::default();

    let plain = generate(&mut ctx, &tokens, &params, &mut |_| {})?;
    println!("--- unsteered ---\n{}\n", plain.text.trim());

    let steering = file.steering(strength, Positions::All);
    let path = apply(&mut ctx, &steering, None)?;
    let steered = generate(&mut ctx, &tokens, &params, &mut |_| {})?;
    println!(
        "--- steered (c = {}, layers {:?}, {path:?}) ---\n{}",
        strength.unwrap_or(file.default_strength),
        steering.vectors.keys().collect::<Vec<_>>(),
        steered.text.trim()
    );
    Ok(())
}
