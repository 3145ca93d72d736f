fn main() -> std::process::ExitCode {
    let codes = slipway_common::cli::Codes {
        usage: 2,
        failure: 1,
    };
    slipway_common::cli::main_status("slipway", codes, slipway::run)
}
