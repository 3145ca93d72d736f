fn main() -> std::process::ExitCode {
    slipway_common::cli::main("slipway", slipway::run)
}
