//! `vinr terminal simulate`: a simulated card terminal on this machine (the `vinr-terminal-sim`
//! library). It connects to the device WebSocket with a terminal's device key and plays the
//! cardholder for every payment sent to it, printing what the terminal's screen shows.
//!
//! ```text
//! vinr terminal simulate --key tdk_test_... [--url http://127.0.0.1:8787] [--card 4000000000009995]
//! ```

use std::time::Duration;

use anyhow::Context;
use vinr_terminal_sim::{DEFAULT_CARD, DropPoint, Options};

/// `vinr terminal ...`.
#[derive(clap::Subcommand, Debug)]
pub enum TerminalCommand {
    /// Act as a card terminal: connect with a device key and play the cardholder for every
    /// payment sent to it.
    Simulate(SimulateArgs),
}

pub fn run(command: TerminalCommand) -> anyhow::Result<()> {
    match command {
        TerminalCommand::Simulate(args) => simulate(args),
    }
}

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Base URL of the API (`vinr dev` or `wrangler dev`); plain http only.
    #[arg(long, env = "VINR_URL", default_value = "http://127.0.0.1:8787")]
    pub url: String,
    /// The terminal this device should be (`term_...`): checked against the server's `hello`.
    #[arg(long, value_name = "term_...")]
    pub terminal: Option<String>,
    /// The terminal's device key (`tdk_test_...`), as `POST /v1/terminals` answered it.
    #[arg(long, env = "VINR_DEVICE_KEY", value_name = "tdk_...")]
    pub key: String,
    /// The card the cardholder presents (a sandbox test card).
    #[arg(long, default_value = DEFAULT_CARD)]
    pub card: String,
    /// How the card is read.
    #[arg(long, default_value = "contactless", value_parser = ["contactless", "chip", "swipe", "manual"])]
    pub entry_method: String,
    /// Between the card being presented and the authorization (a PIN being typed).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub pin_delay_ms: u64,
    /// Before the card is presented (the payment's `simulateDelay` is added to it).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub present_delay_ms: u64,
    /// Go offline once, mid-payment: `on-payment` or `after-presented`.
    #[arg(long, value_name = "POINT")]
    pub drop: Option<DropPoint>,
    /// After a --drop, reconnect after this long (and finish the payment).
    #[arg(long, value_name = "MS")]
    pub reconnect_after_ms: Option<u64>,
    /// Show payments but never present a card (they stay pending until cancelled).
    #[arg(long)]
    pub ignore_payments: bool,
    /// Heartbeat interval.
    #[arg(long, default_value_t = vinr_shared::terminal::protocol::HEARTBEAT_SECS * 1000, value_name = "MS")]
    pub heartbeat_ms: u64,
}

pub fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    if let Some(t) = &args.terminal {
        anyhow::ensure!(
            t.starts_with("term_"),
            "--terminal {t:?} is not a terminal id (term_...)"
        );
    }
    anyhow::ensure!(
        args.key.starts_with("tdk_"),
        "--key must be a device key (tdk_...), as POST /v1/terminals answered it"
    );
    anyhow::ensure!(args.heartbeat_ms > 0, "--heartbeat-ms must be positive");
    let opts = Options {
        card: args.card.chars().filter(|c| !c.is_whitespace()).collect(),
        entry_method: args.entry_method,
        present_delay: Duration::from_millis(args.present_delay_ms),
        pin_delay: Duration::from_millis(args.pin_delay_ms),
        drop: args.drop,
        reconnect_after: args.reconnect_after_ms.map(Duration::from_millis),
        ignore_payments: args.ignore_payments,
        heartbeat: Duration::from_millis(args.heartbeat_ms),
        expect_terminal: args.terminal,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    println!(
        "Terminal simulator: {} (Ctrl-C to stop)",
        vinr_terminal_sim::connect_url(&args.url)?
    );
    let mut log = |line: &str| println!("{} {line}", clock());
    rt.block_on(async {
        tokio::select! {
            r = vinr_terminal_sim::run(&args.url, &args.key, opts, &mut log) => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

/// `HH:MM:SS` (UTC) for the screen lines.
fn clock() -> String {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
