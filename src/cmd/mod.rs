//! One module per subcommand: validate the parsed arguments, call the library, print results.

#[cfg(feature = "train")]
mod compare;
mod data;
mod eval;
#[cfg(feature = "train")]
mod export;
mod load;
mod predict;
mod run;
#[cfg(feature = "train")]
mod train;

use std::process::ExitCode;

use crate::cli::Command;

/// Runs a subcommand; `Ok` carries the exit status (a check that finds problems is not an
/// error of the program, but exits with 1).
pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Data(command) => data::run(command),
        #[cfg(feature = "train")]
        Command::Train(args) => train::run(*args),
        #[cfg(feature = "train")]
        Command::Export(args) => export::run(args),
        #[cfg(feature = "train")]
        Command::Compare(args) => compare::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Run(args) => run::run(*args),
    }
}
