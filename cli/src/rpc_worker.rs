//! `expertsteer rpc-worker`: serve this machine's CPU to llama.cpp RPC
//! clients (`--rpc HOST:PORT` on generate, capture, fit, eval).

use clap::Args;
use expertsteer::llama::rpc::serve_rpc;
use expertsteer::Result;

#[derive(Args, Debug)]
pub struct RpcWorkerArgs {
    /// Address to listen on. RPC has no authentication or encryption:
    /// anything beyond loopback also needs --trusted-network.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Allow a --host beyond loopback. llama.cpp's RPC protocol has no
    /// authentication: whoever reaches the port can run computations on
    /// this machine and read what it computes. Only on a trusted network.
    #[arg(long)]
    pub trusted_network: bool,
    /// TCP port to listen on.
    #[arg(long, default_value_t = 50052)]
    pub port: u16,
    /// CPU threads for the layers this worker computes.
    #[arg(long, default_value_t = expertsteer::llama::default_threads() as usize)]
    pub threads: usize,
}

/// Whether `host` names only this machine (127.0.0.0/8, ::1, localhost).
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub fn run(a: RpcWorkerArgs) -> Result<()> {
    if !is_loopback(&a.host) && !a.trusted_network {
        return Err(expertsteer::Error::Input(format!(
            "--host {}: llama.cpp's RPC has no authentication, so anyone who reaches the port \
             can use this machine; pass --trusted-network to listen beyond loopback anyway",
            a.host
        )));
    }
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
