fn main() -> std::process::ExitCode {
    // Docker's codes: 125 when container-run itself fails, usage included;
    // otherwise the container's own status.
    slipway_common::cli::main_status(
        "container-run",
        slipway_common::cli::Codes {
            usage: 125,
            failure: 125,
        },
        container_run::run,
    )
}
