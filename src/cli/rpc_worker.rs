//! `expertsteer rpc-worker`: serve this machine's CPU to llama.cpp RPC
//! clients (`--rpc HOST:PORT` on generate, capture, fit, eval).

use clap::Args;
use expertsteer::llama::rpc::serve_rpc;
use expertsteer::Result;

#[derive(Args, Debug)]
pub struct RpcWorkerArgs {
    /// Address to listen on. RPC has no authentication: keep the default
    /// loopback address unless the network is trusted.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// TCP port to listen on.
    #[arg(long, default_value_t = 50052)]
    pub port: u16,
    /// CPU threads for the layers this worker computes.
    #[arg(long, default_value_t = expertsteer::llama::default_threads() as usize)]
    pub threads: usize,
}

pub fn run(a: RpcWorkerArgs) -> Result<()> {
    let endpoint = if a.host.contains(':') {
        format!("[{}]:{}", a.host, a.port)
    } else {
        format!("{}:{}", a.host, a.port)
    };
    eprintln!(
        "expertsteer rpc-worker: serving the CPU backend at {endpoint} ({} threads)",
        a.threads
    );
    Ok(serve_rpc(&endpoint, a.threads)?)
}
