//! llama.cpp's RPC backend on loopback: every block of the real SmolLM2 on
//! an `expertsteer rpc-worker` process, steered and captured through the
//! hook — the hook's non-host path (`ggml_backend_tensor_get/set`), the one
//! CUDA and Metal buffers take too.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::*;
use expertsteer::llama::{rpc, CaptureRows, Context, HookPlan, Model, ModelParams};
use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The worker process, killed when the test ends (pass or fail).
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a worker on a free loopback port; waits (at most 60 s) until it
/// accepts connections.
fn start_worker() -> (Worker, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .args(["rpc-worker", "--host", "127.0.0.1", "--threads", "1"])
        .args(["--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rpc-worker");
    let worker = Worker(child);
    let endpoint = format!("127.0.0.1:{port}");
    let t0 = Instant::now();
    while TcpStream::connect(&endpoint).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "rpc-worker did not listen on {endpoint} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (worker, endpoint)
}

/// Greedy logits with `add` steering and every layer captured, and how
/// many tensors the hook reached off the host.
fn run(model: &Model, add: &BTreeMap<usize, Vec<f32>>) -> (Vec<Vec<f32>>, Vec<Vec<f32>>, u64) {
    let mut ctx = Context::new(model, params(true)).unwrap();
    ctx.set_hook_plan(&HookPlan {
        add: add.clone(),
        capture: (0..model.n_layer()).collect(),
        capture_rows: CaptureRows::LastOfEachSeq,
        ..Default::default()
    })
    .unwrap();
    let (logits, _) = greedy_run(&mut ctx, &prompt(model), 4);
    let off_host = ctx.hook_mut().unwrap().off_host_tensors();
    (logits, ctx.take_captures(), off_host)
}

#[test]
fn steering_and_capture_on_an_rpc_worker_match_the_cpu() {
    // Loaded before the worker is registered, with no offload: all on CPU.
    let cpu = Model::load(smollm2_path(), &ModelParams { gpu_layers: 0 }).unwrap();
    let (_worker, endpoint) = start_worker();
    rpc::add_rpc_servers(&[endpoint]).unwrap();
    let remote = Model::load(smollm2_path(), &ModelParams { gpu_layers: -1 }).unwrap();

    let add: BTreeMap<usize, Vec<f32>> = [0usize, 7, 15, 29]
        .iter()
        .map(|&l| (l, pseudo_vector(cpu.n_embd(), 40 + l as u64, 1.5)))
        .collect();
    let (cpu_plain, _, _) = run(&cpu, &BTreeMap::new());
    let (cpu_logits, cpu_states, cpu_off_host) = run(&cpu, &add);
    let (rpc_logits, rpc_states, rpc_off_host) = run(&remote, &add);

    // The blocks really ran on the worker: the hook met their l_out tensors
    // in RPC buffers (every layer, every decode), and none on the CPU run.
    assert_eq!(cpu_off_host, 0);
    assert!(
        rpc_off_host >= cpu.n_layer() as u64 * 5,
        "only {rpc_off_host} tensors came through RPC buffers"
    );

    assert!(
        largest(&cpu_logits, &cpu_plain) > 0.1,
        "the vectors did not steer at all"
    );
    assert_eq!(rpc_states.len(), cpu_states.len());
    assert!(
        rpc_states.iter().all(|s| !s.is_empty()),
        "every layer was captured through RPC"
    );
    let d_logits = largest(&rpc_logits, &cpu_logits);
    let d_states = largest(&rpc_states, &cpu_states);
    eprintln!("RPC vs CPU: logits max diff {d_logits}, states max diff {d_states}");
    // Measured bit-identical (0 and 0): the worker runs the same CPU
    // kernels, one thread, on the same graph.
    assert!(
        bit_identical(&rpc_logits, &cpu_logits),
        "logits differ by {d_logits}"
    );
    assert!(
        bit_identical(&rpc_states, &cpu_states),
        "states differ by {d_states}"
    );
}

fn largest(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| max_abs_diff(x, y))
        .fold(0.0, f32::max)
}
