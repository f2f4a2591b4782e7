//! The `scn` command: parses arguments, sets up logging, runs one subcommand and reports its
//! error (with its causes) on failure. The work itself is done by the library crates.

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    #[cfg(feature = "train")]
    if let cli::Command::Train(args) = &cli.command
        && args.device == cli::DeviceArg::Flex
        && std::env::var_os("BURN_DEVICE").is_none()
    {
        // burn puts what it loads without a device (a resumed optimizer's state) on its default
        // device, wgpu where that is compiled in: on a CPU run that would start a GPU driver for
        // nothing. SAFETY: the process has one thread here; nothing reads the environment
        // concurrently.
        unsafe { std::env::set_var("BURN_DEVICE", "flex") };
    }
    init_logging(cli.verbose, cli.quiet);
    match cmd::run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr: warnings and info by default, `-v` debug, `-vv` trace, `-q` errors only;
/// `RUST_LOG` overrides.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => log::LevelFilter::Error,
        (false, 0) => log::LevelFilter::Info,
        (false, 1) => log::LevelFilter::Debug,
        (false, _) => log::LevelFilter::Trace,
    };
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Warn)
        .filter_module("scn", level)
        .filter_module("scn_train", level)
        .format_timestamp(None)
        .parse_default_env()
        .init();
}
