fn main() -> std::process::ExitCode {
    // exec returns the status of the process it ran; the rest 0 or 1.
    slipway_common::cli::main_status(
        "container-ctl",
        slipway_common::cli::Codes {
            usage: 2,
            failure: 1,
        },
        container_ctl::run,
    )
}
