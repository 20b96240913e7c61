//! `vinr`: the local host for the VINR Spin components.
//!
//! `vinr dev` does what `spin up --build` would do for this project (Spin's CLI cannot be installed
//! here, see /work/shared/TOOLCHAIN.md): build the components, open the data directory, and serve
//! each HTTP request with a fresh component instance.

mod bootstrap;
mod components;
mod db;
mod dispatcher;
mod hash_key;
mod manifest;
mod rand;
mod retention;
mod server;
mod spin_bindings;
mod sqlite_host;
mod state;
mod terminal_cli;
mod terminal_hub;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "vinr", version, about = "Local host for the VINR WebAssembly components")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the components, apply migrations and serve the API locally.
    Dev {
        /// Address to listen on (loopback).
        #[arg(long, env = "VINR_LISTEN", default_value = "127.0.0.1:8787")]
        listen: String,
        /// Data directory (SQLite databases, compiled-component cache).
        #[arg(long, env = "VINR_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The Spin application manifest.
        #[arg(long, default_value = "spin.toml")]
        manifest: PathBuf,
        /// Skip the components' build commands.
        #[arg(long)]
        no_build: bool,
    },
    /// Run the components' build commands from the manifest (as `spin build`) and exit.
    Build {
        #[arg(long, default_value = "spin.toml")]
        manifest: PathBuf,
    },
    /// Manage accounts.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Terminals: `vinr terminal simulate` plays a card terminal (docs/terminals.md).
    Terminal {
        #[command(subcommand)]
        command: terminal_cli::TerminalCommand,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        #[arg(long, env = "VINR_DATA_DIR")]
        data_dir: Option<PathBuf>,
        #[arg(long, default_value = "spin.toml")]
        manifest: PathBuf,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create a new account with a fresh set of keys and print them.
    Create {
        /// Ignored with --sql.
        #[arg(long, env = "VINR_DATA_DIR")]
        data_dir: Option<PathBuf>,
        #[arg(long, default_value = "spin.toml")]
        manifest: PathBuf,
        /// Use this sandbox secret key instead of a random one.
        #[arg(long)]
        secret_key: Option<String>,
        /// Connect the new account to this platform account (`acct_...`): the platform's
        /// payments may then name it in `on_behalf_of`.
        #[arg(long, value_name = "ACCOUNT")]
        platform: Option<String>,
        /// Print the account and keys as one JSON object.
        #[arg(long)]
        json: bool,
        /// Write the account's INSERT statements to FILE instead of storing it in the data
        /// directory (which is then not opened): for a database this command cannot reach,
        /// e.g. `wrangler d1 execute vinr --file FILE` (Cloudflare D1). No BEGIN/COMMIT.
        #[arg(long, value_name = "FILE")]
        sql: Option<PathBuf>,
    },
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, the whole cause chain: these errors are read by people at a terminal.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `.vinr/` under the working directory unless given.
fn data_dir_or_default(dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match dir {
        Some(d) => d,
        None => std::env::current_dir()?.join(".vinr"),
    })
}

/// The directory holding `schema/migrations`: the manifest's directory.
fn manifest_dir(manifest: &Path) -> PathBuf {
    let abs = if manifest.is_absolute() {
        manifest.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(manifest)
    };
    abs.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Dev {
            listen,
            data_dir,
            manifest,
            no_build,
        } => {
            let data_dir = data_dir_or_default(data_dir)?;
            server::dev(server::DevOptions {
                listen,
                data_dir,
                manifest,
                no_build,
            })
        }
        Command::Build { manifest } => components::run_builds(&manifest::Manifest::load(&manifest)?),
        Command::Terminal { command } => terminal_cli::run(command),
        Command::Migrate { data_dir, manifest } => {
            let data_dir = data_dir_or_default(data_dir)?;
            let db = db::Database::open(&data_dir)?;
            let applied = db::migrate(&db.main_path, &manifest_dir(&manifest).join("schema/migrations"))?;
            if applied.is_empty() {
                println!("Database is up to date ({}).", db.main_path.display());
            }
            for name in applied {
                println!("Applied {name}");
            }
            db.close();
            Ok(())
        }
        Command::Account {
            command:
                AccountCommand::Create {
                    sql: Some(file),
                    secret_key,
                    platform,
                    json,
                    ..
                },
        } => {
            let (created, sql) = bootstrap::create_account_sql("Account", secret_key.as_deref(), platform.as_deref())?;
            std::fs::write(&file, sql).with_context(|| format!("cannot write {}", file.display()))?;
            if json {
                println!("{}", created.to_json());
            } else {
                bootstrap::print_new_account(&created);
                println!("  Not stored yet: run the SQL in {} on the database.", file.display());
            }
            Ok(())
        }
        Command::Account {
            command:
                AccountCommand::Create {
                    data_dir,
                    manifest,
                    secret_key,
                    platform,
                    json,
                    sql: None,
                },
        } => {
            let data_dir = data_dir_or_default(data_dir)?;
            let db = db::Database::open(&data_dir)?;
            db::migrate(&db.main_path, &manifest_dir(&manifest).join("schema/migrations"))?;
            let conn = db::open_connection(&db.main_path)?;
            let created = bootstrap::create_account(&conn, "Account", secret_key.as_deref(), platform.as_deref())?;
            drop(conn);
            db.close();
            if json {
                println!("{}", created.to_json());
            } else {
                bootstrap::print_new_account(&created);
            }
            Ok(())
        }
    }
}
