//! `rempart`: the one binary of the project. Each subcommand is a thin shell over a library
//! crate; errors are printed with their whole chain and give exit code 1.

mod demo;

// Pingora allocates and frees a 64 KiB body buffer per request; glibc's malloc spent 13-19 % of
// the edge's CPU on that pattern (perf, bench/results/edge-2026-11-25-perf.txt).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "rempart",
    version,
    about = "Rempart: an edge and an abuse desk for infrastructure providers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the edge (reverse proxy) with a configuration file.
    Edge {
        /// The edge configuration (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Take the listening sockets over from a running edge, then tell it to stop with
        /// SIGQUIT: a zero-downtime upgrade.
        #[arg(long)]
        upgrade: bool,
    },
    /// Validate an edge configuration file (and the policy file it names) without starting.
    CheckConfig {
        /// The edge configuration (TOML).
        file: PathBuf,
    },
    /// Validate a policy document.
    CheckPolicy {
        /// The policy (JSON).
        file: PathBuf,
    },
    /// Run the demo on loopback: a demo origin and the edge, with a sample restriction.
    Up {
        /// Where the demo keeps its files.
        #[arg(long, default_value = "rempart-demo")]
        dir: PathBuf,
        /// First port; the demo uses this one and the next few.
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Run the desk (abuse-response service) with a configuration file.
    Desk {
        /// The desk configuration (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Create an admin account on the desk and print its one-time password.
    CreateAdmin {
        /// The desk configuration (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// The account name.
        #[arg(long, default_value = "admin")]
        username: String,
    },
    /// Benchmarks only: put COUNT URL restrictions (http://HOST/seed/N) in force on a case in
    /// one transaction and one policy version.
    #[command(hide = true)]
    BenchSeed {
        /// The desk configuration (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// The case the decisions are recorded on.
        #[arg(long)]
        case: String,
        /// How many restrictions.
        #[arg(long)]
        count: usize,
        /// The first N (to add to an earlier batch).
        #[arg(long, default_value_t = 0)]
        from: usize,
        /// The host of the restricted URLs.
        #[arg(long, default_value = "bench.test")]
        host: String,
    },
    /// The desk's tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Referral bundles sent to authorities.
    Bundle {
        #[command(subcommand)]
        command: BundleCommand,
    },
    /// Scan text for doxxing and threats: plain text lines, or JSON lines with a `text` (and
    /// optional `id`) field, from files or standard input; one JSON report per line on stdout.
    Scan {
        /// Files to read; none: standard input.
        files: Vec<PathBuf>,
    },
    /// Evaluate the content signals on a labelled JSON-lines set (precision, recall, F1 per
    /// label and language, span precision/recall per type, bootstrap intervals, by family).
    SignalsEval {
        /// The data set, e.g. ../shared/data/signals/dev.jsonl.
        file: PathBuf,
    },
    /// Run a small demo origin (a forum with a few pages) on an address.
    DemoOrigin {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the hash chain and signed checkpoints; exit 1 and name every altered, deleted,
    /// inserted or reordered entry.
    Verify {
        /// The desk configuration (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum BundleCommand {
    /// Check a referral bundle offline: the manifest's signature, every file's SHA-256, no file
    /// missing or added, the audit excerpt and its signed checkpoint; exit 1 naming each file.
    Verify {
        /// The bundle's directory.
        path: PathBuf,
        /// The desk's Ed25519 public key (64 hex digits, or a file holding them), obtained from
        /// the provider by another channel; without it, only the key the manifest names.
        #[arg(long)]
        key: Option<String>,
    },
}

fn bundle_verify(path: &std::path::Path, key: Option<&str>) -> anyhow::Result<()> {
    let key = key
        .map(rempart_desk::bundle::parse_public_key)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let report = rempart_desk::bundle::verify_bundle(path, key.as_ref());
    if report.is_ok() {
        println!("{}: {report}", path.display());
        Ok(())
    } else {
        print!("{}: {report}", path.display());
        Err(anyhow::anyhow!(
            "the bundle {} has been altered",
            path.display()
        ))
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn desk_config(path: &std::path::Path) -> anyhow::Result<rempart_desk::DeskConfig> {
    rempart_desk::DeskConfig::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("REMPART_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,pingora_core=warn,pingora_proxy=warn"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(true)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Edge { config, upgrade } => {
            init_logging();
            rempart_edge::run(rempart_edge::RunOptions { config, upgrade })
        }
        Command::CheckConfig { file } => check_config(&file),
        Command::CheckPolicy { file } => rempart_edge::control::read_policy_file(&file)
            .map(|p| {
                println!(
                    "{}: policy version {} with {} restrictions is valid",
                    file.display(),
                    p.version,
                    p.restrictions.len()
                )
            })
            .map_err(anyhow::Error::msg),
        Command::Up { dir, port } => {
            init_logging();
            demo::up(&dir, port)
        }
        Command::Desk { config } => {
            init_logging();
            desk_config(&config).and_then(|c| runtime()?.block_on(rempart_desk::serve(c)))
        }
        Command::CreateAdmin { config, username } => desk_config(&config).and_then(|c| {
            let password = runtime()?.block_on(rempart_desk::create_admin(&c, &username))?;
            println!("admin account '{username}' created; one-time password: {password}");
            Ok(())
        }),
        Command::BenchSeed {
            config,
            case,
            count,
            from,
            host,
        } => desk_config(&config).and_then(|c| {
            let urls: Vec<String> = (from..from + count)
                .map(|i| format!("http://{host}/seed/{i}"))
                .collect();
            let started = std::time::Instant::now();
            let v = runtime()?.block_on(rempart_desk::bulk_restrict(&c, &case, &urls))?;
            println!(
                "policy version {v}: {count} restrictions added in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }),
        Command::Audit {
            command: AuditCommand::Verify { config },
        } => desk_config(&config).and_then(|c| {
            let report = runtime()?.block_on(rempart_desk::audit_verify(&c))?;
            println!("{report}");
            if report.is_ok() {
                Ok(())
            } else {
                Err(anyhow::anyhow!("the audit log has been tampered with"))
            }
        }),
        Command::Bundle {
            command: BundleCommand::Verify { path, key },
        } => bundle_verify(&path, key.as_deref()),
        Command::Scan { files } => scan(&files),
        Command::SignalsEval { file } => signals().and_then(|s| {
            rempart_signals::eval::run_eval_file(
                &s,
                &file,
                rempart_signals::eval::EvalConfig::default(),
                std::io::stdout().lock(),
            )
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
        }),
        Command::DemoOrigin { listen } => {
            init_logging();
            demo::run_origin(&listen)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn signals() -> anyhow::Result<rempart_signals::Signals> {
    rempart_signals::Signals::new().map_err(|e| anyhow::anyhow!("content signals: {e}"))
}

fn scan(files: &[PathBuf]) -> anyhow::Result<()> {
    let s = signals()?;
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    if files.is_empty() {
        rempart_signals::scan_lines(&s, std::io::stdin().lock(), out)
            .map_err(|e| anyhow::anyhow!("standard input: {e}"))?;
        return Ok(());
    }
    let mut out = out;
    for f in files {
        let reader = std::io::BufReader::new(
            std::fs::File::open(f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?,
        );
        rempart_signals::scan_lines(&s, reader, &mut out)
            .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
    }
    Ok(())
}

fn check_config(file: &std::path::Path) -> anyhow::Result<()> {
    let config =
        rempart_edge::config::EdgeConfig::load(file).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(p) = &config.policy.file {
        rempart_edge::control::read_policy_file(&config.path(p.get_ref()))
            .map_err(anyhow::Error::msg)?;
    }
    println!("{}: valid ({} zones)", file.display(), config.zones.len());
    Ok(())
}
