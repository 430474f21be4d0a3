//! The desk alone, as `rempart desk --config FILE` runs it (the same `rempart_desk::serve`, on
//! a multi-threaded runtime), without building the edge: for bench/desk, whose load generator
//! runs in a process of its own. Logs nothing (the CLI logs JSON at `info` and above; the
//! intake logs nothing per report).
//!
//! `cargo run --release -p rempart-desk --example desk_server -- desk.toml`

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: desk_server CONFIG"))?;
    let config = rempart_desk::DeskConfig::load(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(rempart_desk::serve(config))
}
