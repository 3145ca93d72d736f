fn main() -> std::process::ExitCode {
    slipway_common::cli::main_status(
        "image-build",
        slipway_common::cli::Codes {
            usage: 2,
            failure: 1,
        },
        image_build::run,
    )
}
