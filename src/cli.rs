//! Command line (Prometheus conventions): the flags, and dispatch to the
//! ways to run: the daemon ([`crate::daemon`]), `check-config`,
//! `simulate`, `healthcheck`.

use crate::config::Config;
use crate::daemon::{self, Daemon, Settings, SourceKind};
use crate::demo::Demo;
use crate::logging::{self, LogFormat, LogLevel};
use crate::secret::Secret;
use crate::server::Limits;
use crate::sim;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Prometheus exporter for Ivanti Connect Secure and Policy Secure appliances.
#[derive(Debug, Parser)]
#[command(name = "ivanti-exporter", about, long_about = None, disable_version_flag = true)]
pub struct Cli {
    /// Print the version, git revision and build details, and exit.
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// Configuration file (YAML, or TOML when it ends in .toml).
    #[arg(long = "config.file", default_value = "ivanti-exporter.yml")]
    pub config_file: PathBuf,
    /// Address to listen on for the web interface and telemetry; repeat the
    /// flag to listen on several. `:9959` (and `[::]:9959`) is IPv4 and IPv6.
    #[arg(long = "web.listen-address", default_value = ":9959", action = clap::ArgAction::Append)]
    pub listen_address: Vec<String>,
    /// TLS and basic-auth settings for the web endpoints (exporter-toolkit
    /// format).
    #[arg(long = "web.config.file", env = WEB_CONFIG_ENV)]
    pub web_config_file: Option<PathBuf>,
    /// The URL under which the exporter is reached from outside (behind a
    /// reverse proxy, its URL); links on `/` and in `/targets` are built from
    /// it. Default: `http://<hostname>:<port>/`.
    #[arg(long = "web.external-url")]
    pub external_url: Option<String>,
    /// Prefix of every endpoint's path. Default: the path of `--web.external-url`.
    #[arg(long = "web.route-prefix")]
    pub route_prefix: Option<String>,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", default_value = "/metrics")]
    pub telemetry_path: String,
    /// Allow `POST` and `PUT /-/reload` over HTTP (SIGHUP always reloads).
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,
    /// Close connections that have not sent a whole request header after this long (also idle kept-alive ones).
    #[arg(long = "web.read-header-timeout", default_value = "5s", value_parser = humantime::parse_duration)]
    pub read_header_timeout: Duration,
    /// Connections served at once; more wait until one closes.
    #[arg(long = "web.max-connections", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// `--log.level`, `--log.format`.
    #[command(flatten)]
    pub log: LogArgs,
    /// Start a simulated fleet in-process and poll it (no appliance or config needed).
    #[arg(long)]
    pub demo: bool,
    /// Number of simulated appliances for --demo.
    #[arg(long = "demo.appliances", default_value_t = 8)]
    pub demo_appliances: usize,
    /// This replica's shard (0-based); targets are split by a stable hash of their name.
    #[arg(
        long = "shard.index",
        env = "IVANTI_EXPORTER_SHARD_INDEX",
        default_value_t = 0
    )]
    pub shard_index: u32,
    /// Number of shards (replicas) splitting the targets; 1 = no sharding.
    #[arg(
        long = "shard.count",
        env = "IVANTI_EXPORTER_SHARD_COUNT",
        default_value_t = 1
    )]
    pub shard_count: u32,
    /// What to do (default: run the exporter).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The environment variable for `--web.config.file`, read by the daemon
/// and by `healthcheck` alike: set once (in a container), both agree on
/// whether the exporter speaks TLS.
pub const WEB_CONFIG_ENV: &str = "IVANTI_EXPORTER_WEB_CONFIG_FILE";

/// The logging flags: the daemon's, and `simulate`'s own.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, default_value = "info")]
    pub log_level: LogLevel,
    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    pub log_format: LogFormat,
}

/// Subcommands. Each takes only the flags that apply to it (no global
/// flags): the daemon's `--config.file` and `--web.config.file`, given
/// before the subcommand, are still its defaults.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration file and exit: 0 when valid, 1 with every problem listed.
    CheckConfig(CheckConfigArgs),
    /// Serve a simulated fleet of appliances on loopback.
    Simulate {
        #[command(flatten)]
        args: Box<sim::SimulateArgs>,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Exit 0 when the exporter's health endpoint answers 2xx (container
    /// health checks without curl), 1 with the reason otherwise.
    Healthcheck(HealthcheckArgs),
}

/// `check-config`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckConfigArgs {
    /// Configuration file to check [default: ivanti-exporter.yml].
    #[arg(long = "config.file")]
    pub config_file: Option<PathBuf>,
    /// Web configuration file (TLS, basic auth) to check as well.
    #[arg(long = "web.config.file", env = WEB_CONFIG_ENV)]
    pub web_config_file: Option<PathBuf>,
    /// Look for credentials as the service will: `${CREDENTIALS_DIRECTORY}`
    /// and `/run/credentials/<unit>/` in the config stand for this
    /// directory (systemd's `LoadCredential=` copies, visible only inside the service).
    #[arg(long = "credentials-directory", env = "CREDENTIALS_DIRECTORY")]
    pub credentials_directory: Option<PathBuf>,
}

/// `healthcheck`.
#[derive(Debug, Clone, clap::Args)]
pub struct HealthcheckArgs {
    /// URL to check [default: http://127.0.0.1:9959/-/healthy, https:// when
    /// the web configuration serves TLS].
    #[arg(long)]
    pub url: Option<String>,
    /// The exporter's web configuration: with `tls_server_config`, the
    /// check speaks HTTPS and trusts exactly the certificate configured
    /// there (whatever names it carries). `/-/healthy` asks no basic auth.
    #[arg(long = "web.config.file", env = WEB_CONFIG_ENV)]
    pub web_config_file: Option<PathBuf>,
    /// Client certificate (PEM) to present when the web configuration
    /// requires one (`client_auth_type: RequireAndVerifyClientCert`).
    #[arg(long = "tls.cert-file", requires = "client_key_file")]
    pub client_cert_file: Option<PathBuf>,
    /// The key of `--tls.cert-file` (PEM).
    #[arg(long = "tls.key-file", requires = "client_cert_file")]
    pub client_key_file: Option<PathBuf>,
}

/// Parse `:9959` (every address, IPv4 and IPv6: `[::]:9959`, bound
/// dual-stack), `0.0.0.0:9959` (IPv4 only), `[::1]:9959` or `localhost:9959`.
pub fn parse_listen_address(s: &str) -> Result<SocketAddr, String> {
    let full = if s.starts_with(':') {
        format!("[::]{s}")
    } else {
        s.to_owned()
    };
    if let Ok(a) = full.parse() {
        return Ok(a);
    }
    use std::net::ToSocketAddrs;
    full.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("invalid --web.listen-address {s:?}"))
}

/// Environment variables renamed to the one prefix, `IVANTI_EXPORTER_`:
/// (argument id, old name, new name). The old names still work, with a
/// warning, when neither the flag nor the new name is given.
const RENAMED_ENV: [(&str, &str, &str); 2] = [
    (
        "shard_index",
        "IVANTI_SHARD_INDEX",
        "IVANTI_EXPORTER_SHARD_INDEX",
    ),
    (
        "shard_count",
        "IVANTI_SHARD_COUNT",
        "IVANTI_EXPORTER_SHARD_COUNT",
    ),
];

/// Apply the old environment names of [`RENAMED_ENV`] (read through `env`)
/// where the flag and the new name are both absent; returns a deprecation
/// warning for each old name set, or the error for a value that is not a
/// number.
fn apply_renamed_env(
    cli: &mut Cli,
    matches: &ArgMatches,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    for (id, old, new) in RENAMED_ENV {
        let Some(value) = env(old) else { continue };
        if matches.value_source(id) != Some(ValueSource::DefaultValue) {
            warnings.push(format!(
                "{old} is deprecated and ignored here: --{} or {new} is set",
                id.replace('_', ".")
            ));
            continue;
        }
        let n: u32 = value
            .trim()
            .parse()
            .map_err(|_| format!("{old}={value:?}: not a number"))?;
        match id {
            "shard_index" => cli.shard_index = n,
            _ => cli.shard_count = n,
        }
        warnings.push(format!("{old} is deprecated: use {new}"));
    }
    Ok(warnings)
}

/// The logging flags in force: `simulate`'s own where given on its
/// command line, otherwise the top-level ones.
fn log_args(cli: &Cli, matches: &ArgMatches) -> LogArgs {
    let (Some(Command::Simulate { log, .. }), Some(("simulate", sub))) =
        (&cli.command, matches.subcommand())
    else {
        return cli.log.clone();
    };
    let given = |id: &str| sub.value_source(id) == Some(ValueSource::CommandLine);
    LogArgs {
        log_level: match given("log_level") {
            true => log.log_level,
            false => cli.log.log_level,
        },
        log_format: match given("log_format") {
            true => log.log_format,
            false => cli.log.log_format,
        },
    }
}

/// Run the program; the exit code is 1 on any start-up failure. A fatal
/// error is reported once, as an `error` log line (logfmt or JSON, as the
/// flags say), not also as plain text.
pub fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if cli.version {
        print!("{}", crate::version::text());
        return ExitCode::SUCCESS;
    }
    let log = log_args(&cli, &matches);
    logging::init(log.log_level, log.log_format);
    match apply_renamed_env(&mut cli, &matches, |k| std::env::var(k).ok()) {
        Ok(warnings) => warnings.iter().for_each(|w| tracing::warn!("{w}")),
        Err(e) => {
            tracing::error!(error = %e, "exiting");
            return ExitCode::FAILURE;
        }
    }
    crate::tls::install_crypto_provider();
    // One connection per appliance: a large fleet needs more than the usual 1024 descriptors.
    crate::system::raise_fd_limit();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = match &cli.command {
        Some(Command::CheckConfig(args)) => {
            let config = args.config_file.as_ref().unwrap_or(&cli.config_file);
            let web = args
                .web_config_file
                .as_ref()
                .or(cli.web_config_file.as_ref());
            let files = crate::config::LoadOptions {
                credentials_directory: args
                    .credentials_directory
                    .clone()
                    .filter(|d| !d.as_os_str().is_empty()),
                as_service: true,
            };
            return check_config(config, web.map(PathBuf::as_path), &files);
        }
        Some(Command::Healthcheck(args)) => {
            let mut args = args.clone();
            args.web_config_file = args.web_config_file.or(cli.web_config_file.clone());
            // Its own words on stderr: a container runtime shows them as they are.
            return match rt.block_on(healthcheck(&args)) {
                Ok(url) => {
                    println!("{url}: OK");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("healthcheck failed: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::Simulate { args, .. }) => rt
            .block_on(sim::run(args.as_ref().clone(), shutdown_signal()))
            .map_err(|e| format!("simulator: {e}")),
        None => rt.block_on(run(&cli)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "exiting");
            ExitCode::FAILURE
        }
    }
}

/// The daemon as the flags describe it, until SIGTERM/SIGINT (a second
/// one cuts the graceful shutdown short); with `--demo`, the simulated
/// fleet runs alongside.
async fn run(cli: &Cli) -> Result<(), String> {
    let listen = cli
        .listen_address
        .iter()
        .map(|a| parse_listen_address(a))
        .collect::<Result<Vec<_>, _>>()?;
    daemon::check_telemetry_path(&cli.telemetry_path).map_err(|e| e.to_string())?;
    let mut demo = match cli.demo {
        true => Some(Demo::start(cli.demo_appliances).await?),
        false => None,
    };
    let settings = Settings {
        listen,
        telemetry_path: cli.telemetry_path.clone(),
        source: match &demo {
            Some(demo) => demo.source(),
            None => SourceKind::File(cli.config_file.clone()),
        },
        shard: (cli.shard_index, cli.shard_count),
        web_config_file: cli.web_config_file.clone(),
        enable_lifecycle: cli.enable_lifecycle,
        limits: Limits {
            read_header_timeout: cli.read_header_timeout,
            max_connections: cli.max_connections,
        },
        external_url: cli.external_url.clone(),
        route_prefix: cli.route_prefix.clone(),
    };
    let daemon = Daemon::build(settings)
        .await
        .map_err(|e| e.to_string())?
        .abort_on(shutdown_signal());
    if let Some(demo) = &mut demo {
        demo.forward_syslog(daemon.syslog_addrs().0);
    }
    daemon
        .run_until(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    if let Some(demo) = demo {
        demo.shutdown().await;
    }
    Ok(())
}

/// Where `healthcheck` looks by default (after `http://` or `https://`).
const HEALTHY: &str = "127.0.0.1:9959/-/healthy";

/// `healthcheck`: the URL checked when it answered 2xx. With a web
/// configuration that serves TLS, HTTPS trusting exactly the configured
/// certificate (the check runs beside the exporter, on loopback, where the
/// certificate's names do not apply), with the client certificate of
/// `--tls.cert-file` when one is required.
async fn healthcheck(args: &HealthcheckArgs) -> Result<String, String> {
    let served = match &args.web_config_file {
        Some(path) => crate::webconfig::ListenerTls::load(path)?.map(|t| (path, t)),
        None => None,
    };
    let url = match (&args.url, &served) {
        (Some(url), _) => url.clone(),
        (None, Some(_)) => format!("https://{HEALTHY}"),
        (None, None) => format!("http://{HEALTHY}"),
    };
    let client = match (&args.client_cert_file, &args.client_key_file) {
        (Some(cert), Some(key)) => {
            let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
            let key = String::from_utf8(read(key)?)
                .map_err(|_| format!("{}: not a PEM key", key.display()))?;
            Some((read(cert)?, Secret::new(key)))
        }
        _ => None,
    };
    let tls = match &served {
        Some((path, served)) => {
            if url.starts_with("http://") {
                return Err(format!(
                    "{url}: {} serves TLS: use https://",
                    path.display()
                ));
            }
            if served.client_cert_required && client.is_none() {
                return Err(format!(
                    "{}: the exporter requires a client certificate (client_auth_type): \
                     give --tls.cert-file and --tls.key-file",
                    path.display()
                ));
            }
            Some(crate::tls::pinned_client_config(
                &served.cert_pem,
                client.as_ref(),
            )?)
        }
        // The system's trust store, read only when it is needed.
        None if url.starts_with("https://") => {
            Some(crate::tls::client_config(&crate::tls::TlsSettings {
                client_pem: client,
                ..Default::default()
            })?)
        }
        None => None,
    };
    check(&url, tls).await.map(|()| url)
}

/// Exit 0 when `url` answers 2xx within 5 s (the container's health check,
/// so no curl is needed in the image); `tls` for an https:// URL.
async fn check(url: &str, tls: Option<rustls::ClientConfig>) -> Result<(), String> {
    let status = tokio::time::timeout(Duration::from_secs(5), get_status(url, tls))
        .await
        .map_err(|_| format!("{url}: no answer within 5s"))??;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{url}: HTTP {status}"))
    }
}

/// One GET of `url` (http://, or https:// with `tls`) with hyper's client
/// connection; URL credentials become basic auth, no proxy.
async fn get_status(
    url: &str,
    tls: Option<rustls::ClientConfig>,
) -> Result<hyper::StatusCode, String> {
    let err = |e: &dyn std::fmt::Display| format!("{url}: {e}");
    let parsed = url::Url::parse(url).map_err(|e| err(&e))?;
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) => d.to_owned(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        None => return Err(err(&"no host in the URL")),
    };
    let port = parsed.port_or_known_default().unwrap_or(80);
    let mut req =
        hyper::Request::get(&parsed[url::Position::BeforePath..url::Position::AfterQuery]).header(
            hyper::header::HOST,
            &parsed[url::Position::BeforeHost..url::Position::AfterPort],
        );
    if let Some(authorization) = basic_authorization(&parsed) {
        req = req.header(hyper::header::AUTHORIZATION, authorization);
    }
    let req = req
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| err(&e))?;
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| err(&e))?;
    match parsed.scheme() {
        "http" => send(tcp, req).await.map_err(|e| err(&e)),
        "https" => {
            let tls = tls.ok_or_else(|| err(&"no TLS configuration"))?;
            let name = rustls::pki_types::ServerName::try_from(host).map_err(|e| err(&e))?;
            let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
                .connect(name, tcp)
                .await
                .map_err(|e| err(&format!("TLS: {e}")))?;
            send(stream, req).await.map_err(|e| err(&e))
        }
        other => Err(err(&format!(
            "unsupported scheme {other:?} (http or https)"
        ))),
    }
}

/// Send `req` on a new HTTP/1.1 connection over `io`; the status of the answer.
async fn send<S>(
    io: S,
    req: hyper::Request<http_body_util::Empty<bytes::Bytes>>,
) -> Result<hyper::StatusCode, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io)).await?;
    let conn = tokio::spawn(conn);
    let status = sender.send_request(req).await.map(|r| r.status());
    conn.abort();
    status
}

/// `Basic <base64(user:password)>` from the URL's user info (its `%XX`
/// escapes decoded by `percent-encoding`, the `url` crate's own codec).
fn basic_authorization(url: &url::Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let credentials = format!(
        "{}:{}",
        decode(url.username()),
        decode(url.password().unwrap_or(""))
    );
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    Some(format!("Basic {encoded}"))
}

fn check_config(path: &Path, web: Option<&Path>, files: &crate::config::LoadOptions) -> ExitCode {
    let mut ok = match Config::check(path, files) {
        Ok(crate::config::Checked {
            config: c,
            warnings,
        }) => {
            println!(
                "{}: OK ({} targets, {} collector schedules)",
                path.display(),
                c.targets.len(),
                c.targets.iter().map(|t| t.collectors.len()).sum::<usize>()
            );
            for warning in &warnings {
                println!("  warning: {warning}");
            }
            true
        }
        Err(e) => {
            eprintln!("{}: invalid configuration", path.display());
            for p in &e.problems {
                eprintln!("  {p}");
            }
            false
        }
    };
    // `--web.config.file`, when given, is checked too (as the daemon would load it).
    if let Some(web) = web {
        let checked = std::fs::read_to_string(web)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                crate::webconfig::WebConfig::from_yaml(
                    &text,
                    web.parent().unwrap_or(Path::new(".")),
                )
            });
        match checked {
            Ok(w) => {
                println!("{}: OK", web.display());
                for warning in &w.warnings {
                    println!("  warning: {warning}");
                }
            }
            Err(e) => {
                eprintln!("{}: invalid web configuration\n  {e}", web.display());
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    /// The old `IVANTI_SHARD_*` names still set the shard, with a warning
    /// naming the new one; the flag or the new name wins over them.
    #[test]
    fn old_shard_variables_still_work_with_a_warning() {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let parse = |args: &[&str], env: &[(&str, &str)]| {
            let m = super::Cli::command()
                .try_get_matches_from(["ivanti-exporter"].iter().chain(args))
                .unwrap();
            let mut cli = super::Cli::from_arg_matches(&m).unwrap();
            let env: Vec<(String, String)> = env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let lookup = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let r = super::apply_renamed_env(&mut cli, &m, lookup);
            r.map(|w| ((cli.shard_index, cli.shard_count), w))
        };
        let old = [("IVANTI_SHARD_INDEX", "2"), ("IVANTI_SHARD_COUNT", "3")];
        assert_eq!(
            parse(&[], &old).unwrap(),
            (
                (2, 3),
                vec![
                    "IVANTI_SHARD_INDEX is deprecated: use IVANTI_EXPORTER_SHARD_INDEX".to_owned(),
                    "IVANTI_SHARD_COUNT is deprecated: use IVANTI_EXPORTER_SHARD_COUNT".to_owned(),
                ]
            )
        );
        assert_eq!(parse(&[], &[]).unwrap(), ((0, 1), vec![]));
        let (shard, warnings) = parse(&["--shard.index", "1"], &old).unwrap();
        assert_eq!(shard, (1, 3));
        assert_eq!(
            warnings[0],
            "IVANTI_SHARD_INDEX is deprecated and ignored here: --shard.index or \
             IVANTI_EXPORTER_SHARD_INDEX is set"
        );
        assert_eq!(
            parse(&[], &[("IVANTI_SHARD_COUNT", "three")]).unwrap_err(),
            "IVANTI_SHARD_COUNT=\"three\": not a number"
        );
        // The new names are the flags' own environment variables.
        let cmd = super::Cli::command();
        let env_of = |id: &str| {
            let arg = cmd.get_arguments().find(|a| a.get_id() == id).unwrap();
            arg.get_env().unwrap().to_str().unwrap().to_owned()
        };
        assert_eq!(env_of("shard_index"), "IVANTI_EXPORTER_SHARD_INDEX");
        assert_eq!(env_of("shard_count"), "IVANTI_EXPORTER_SHARD_COUNT");
    }

    use super::*;

    /// `simulate`'s own logging flags win; without them, the top-level ones apply.
    #[test]
    fn simulate_takes_its_own_logging_flags() {
        let log = |args: &[&str]| {
            let m = Cli::command()
                .try_get_matches_from(["ivanti-exporter"].iter().chain(args))
                .unwrap();
            let cli = Cli::from_arg_matches(&m).unwrap();
            let l = log_args(&cli, &m);
            (l.log_level, l.log_format)
        };
        assert_eq!(
            log(&["simulate", "--log.level", "warn"]),
            (LogLevel::Warn, LogFormat::Logfmt)
        );
        assert_eq!(
            log(&["--log.level", "debug", "--log.format", "json", "simulate"]),
            (LogLevel::Debug, LogFormat::Json)
        );
        assert_eq!(
            log(&["--log.level=debug", "simulate", "--log.level=error"]),
            (LogLevel::Error, LogFormat::Logfmt)
        );
        assert_eq!(log(&[]), (LogLevel::Info, LogFormat::Logfmt));
        // check-config takes no logging flags of its own.
        assert!(
            Cli::try_parse_from(["ivanti-exporter", "check-config", "--log.level=warn"]).is_err()
        );
    }

    #[test]
    fn url_credentials_are_percent_decoded_into_basic_auth() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        // base64("us@er:p:ss/ü") computed by hand: "us@er:p:ss/" then U+00FC as C3 BC.
        assert_eq!(
            basic_authorization(&url(
                "http://us%40er:p%3Ass%2F%C3%BC@127.0.0.1:9959/-/ready"
            ))
            .as_deref(),
            Some("Basic dXNAZXI6cDpzcy/DvA==")
        );
        assert_eq!(
            basic_authorization(&url("http://prom@h/")).as_deref(),
            Some("Basic cHJvbTo=")
        );
        assert_eq!(basic_authorization(&url("http://h/")), None);
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen_address(":9959").unwrap(),
            "[::]:9959".parse().unwrap()
        );
        assert_eq!(
            parse_listen_address("0.0.0.0:9959").unwrap(),
            "0.0.0.0:9959".parse().unwrap()
        );
        assert_eq!(
            parse_listen_address("[::1]:1").unwrap(),
            "[::1]:1".parse().unwrap()
        );
        assert!(parse_listen_address("nope").is_err());
    }

    #[test]
    fn web_server_flags() {
        let cli = Cli::try_parse_from(["ivanti-exporter"]).unwrap();
        assert_eq!(cli.listen_address, [":9959"]);
        let cli = Cli::try_parse_from([
            "ivanti-exporter",
            "--web.listen-address=127.0.0.1:9959",
            "--web.listen-address",
            "[::1]:9959",
        ])
        .unwrap();
        assert_eq!(cli.listen_address, ["127.0.0.1:9959", "[::1]:9959"]);
        let cli = Cli::try_parse_from(["ivanti-exporter"]).unwrap();
        assert!(!cli.enable_lifecycle);
        assert_eq!(cli.read_header_timeout, Duration::from_secs(5));
        assert_eq!(cli.max_connections, 512);
        let cli = Cli::try_parse_from([
            "ivanti-exporter",
            "--web.enable-lifecycle",
            "--web.read-header-timeout=1m30s",
            "--web.max-connections=3",
        ])
        .unwrap();
        assert!(cli.enable_lifecycle);
        assert_eq!(cli.read_header_timeout, Duration::from_secs(90));
        assert_eq!(cli.max_connections, 3);
        assert!(Cli::try_parse_from(["ivanti-exporter", "--web.max-connections=0"]).is_err());
        assert!(Cli::try_parse_from(["ivanti-exporter", "--web.read-header-timeout=5"]).is_err());
    }

    /// A loopback server answering every request with `status`; the
    /// requests it received go to the returned receiver.
    async fn answering(status: &'static str) -> (SocketAddr, tokio::sync::mpsc::Receiver<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = vec![0; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let _ = tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .await;
                let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 3\r\n\r\nok\n");
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        (addr, rx)
    }

    #[tokio::test]
    async fn healthcheck_is_ok_on_2xx_only() {
        let (ok, mut requests) = answering("200 OK").await;
        check(&format!("http://{ok}/-/healthy"), None)
            .await
            .unwrap();
        let request = requests.recv().await.unwrap();
        assert!(
            request.starts_with("GET /-/healthy HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.to_lowercase().contains(&format!("host: {ok}\r\n")),
            "{request}"
        );

        let (sick, _) = answering("503 Service Unavailable").await;
        let url = format!("http://{sick}/-/healthy");
        assert_eq!(
            check(&url, None).await.unwrap_err(),
            format!("{url}: HTTP 503 Service Unavailable")
        );
    }

    #[tokio::test]
    async fn healthcheck_fails_without_a_server_and_sends_url_credentials() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let url = format!("http://127.0.0.1:{port}/-/healthy");
        let e = check(&url, None).await.unwrap_err();
        assert!(e.starts_with(&format!("{url}: ")), "{e}");
        assert!(check("ftp://127.0.0.1/", None).await.is_err());

        let (ok, mut requests) = answering("204 No Content").await;
        check(&format!("http://prometheus:p%40ss@{ok}/-/ready?x=1"), None)
            .await
            .unwrap();
        let request = requests.recv().await.unwrap();
        assert!(
            request.starts_with("GET /-/ready?x=1 HTTP/1.1\r\n"),
            "{request}"
        );
        // base64("prometheus:p@ss")
        assert!(request.contains("Basic cHJvbWV0aGV1czpwQHNz"), "{request}");
    }
}
